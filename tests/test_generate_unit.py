"""Text generation on a tiny random Llama built from a config (no download): options, decoding, streaming."""
from __future__ import annotations

import warnings

import pytest

from llmkit.engines.decoding import Detokenizer
from llmkit.errors import InputError
from llmkit.tasks.decoding import StopMatcher, check_messages, render_chat
from llmkit.tasks.generate_options import GenerationOptions

# ---------------------------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "bad, flag",
    [
        ({"max_new_tokens": 0}, "--max-new-tokens"),
        ({"max_new_tokens": 2.5}, "--max-new-tokens"),
        ({"temperature": -0.1}, "--temperature"),
        ({"temperature": 2.5}, "--temperature"),
        ({"temperature": float("nan")}, "--temperature"),
        ({"top_p": 0.0}, "--top-p"),
        ({"top_p": 1.5}, "--top-p"),
        ({"top_k": -1}, "--top-k"),
        ({"repetition_penalty": 0.0}, "--repetition-penalty"),
        ({"seed": -3}, "--seed"),
        ({"stop": ("",)}, "--stop"),
    ],
)
def test_bad_options_name_the_flag_and_range(bad, flag):
    with pytest.raises(InputError) as e:
        GenerationOptions(**bad)
    assert flag in str(e.value) and "got" in str(e.value) and "\n" not in str(e.value)


def test_options_replace_validates_and_rejects_unknown_names():
    base = GenerationOptions(temperature=0)
    assert base.greedy and isinstance(base.temperature, float)
    assert base.replace(top_p=0.5, seed=None).top_p == 0.5  # None means "keep"
    assert GenerationOptions(stop="END").stop == ("END",)
    with pytest.raises(InputError, match="unknown generation option"):
        base.replace(temprature=1.0)
    with pytest.raises(InputError, match="--top-k"):
        base.replace(top_k=-5)


# ---------------------------------------------------------------------------------------------- decoding


def test_stop_matcher_cuts_at_the_first_stop_across_pieces():
    m = StopMatcher(["END", "\n\n"])
    out = [m.feed(p) for p in ["Hello E", "N", "o more E", "ND tail"]]
    assert "".join(out) == "Hello ENo more " and m.stopped
    m2 = StopMatcher(["xyz"])
    assert m2.feed("abc xy") == "abc " and m2.finish() == "xy"  # a held-back prefix that never completed


def test_detokenizer_never_splits_a_multibyte_character():
    data = "héllo 日本".encode()
    decode = lambda ids: bytes(ids).decode("utf-8", errors="replace")  # noqa: E731  one token per byte
    d = Detokenizer(decode)
    pieces = [d.add(b) for b in data] + [d.flush()]
    assert "".join(pieces) == "héllo 日本" and "\ufffd" not in "".join(pieces)


def test_chat_template_rendering_and_message_checks():
    text = render_chat(None, [{"role": "user", "content": "Hi"}])
    assert text.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nHi<|im_end|>" in text
    with pytest.raises(InputError):
        check_messages([{"role": "robot", "content": "x"}])
    with pytest.raises(InputError, match="no user text"):
        check_messages([{"role": "user", "content": "   "}])


# ---------------------------------------------------------------------------------------------- tiny model


@pytest.fixture(scope="module")
def tiny_pipe():
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from llmkit.engines.torch_causal import TorchCausalEngine
    from llmkit.tasks.generate import TextGenerationPipeline

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the capital of France is Paris. héllo wörld 日本"] * 20, trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                 unk_token="<|endoftext|>")
    config = LlamaConfig(vocab_size=len(hf), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         eos_token_id=hf.eos_token_id, bos_token_id=hf.bos_token_id)
    torch.manual_seed(0)
    return TextGenerationPipeline(TorchCausalEngine(LlamaForCausalLM(config), hf, threads=1))


def test_transformers_shaped_outputs(tiny_pipe):
    out = tiny_pipe("the capital", max_new_tokens=5, seed=1)
    assert isinstance(out, list) and out[0]["generated_text"].startswith("the capital")
    chat = tiny_pipe([{"role": "user", "content": "hi"}], max_new_tokens=5, seed=1)
    assert chat[0]["generated_text"][-1]["role"] == "assistant"
    batch = tiny_pipe(["a", "b"], max_new_tokens=3, seed=1, return_full_text=False)
    assert len(batch) == 2 and all(len(b) == 1 for b in batch)


def test_seeded_sampling_is_reproducible_and_stream_joins_to_the_result(tiny_pipe):
    kw = dict(max_new_tokens=24, temperature=1.0, top_k=50, top_p=0.95, repetition_penalty=1.2, seed=7)
    first = tiny_pipe.generate("the capital", **kw)
    assert first == tiny_pipe.generate("the capital", **kw)
    stream = tiny_pipe.stream("the capital", **kw)
    pieces = list(stream)
    assert "".join(pieces) == first.text and stream.result == first
    assert first.usage.completion_tokens <= 24 and first.finish_reason in ("stop", "length")
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


def test_greedy_logprobs_are_the_top_tokens(tiny_pipe):
    """Each returned (token, logprob) is the most probable token of the model's full next-token distribution
    (recomputed here without the KV cache, over the whole vocabulary) and its log-probability there."""
    import torch

    engine = tiny_pipe.engine
    r = tiny_pipe.generate("the capital", max_new_tokens=6, temperature=0, logprobs=True)
    assert r.logprobs is not None and len(r.logprobs) == r.usage.completion_tokens >= 2
    ids = engine.tokenize("the capital")
    with torch.inference_mode():
        for returned in r.logprobs:
            dist = torch.log_softmax(engine.model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)
            top = int(torch.argmax(dist))
            second = float(torch.topk(dist, 2).values[1])
            assert returned.token == engine.detokenize([top])
            assert returned.logprob == pytest.approx(float(dist[top]), abs=1e-4)
            assert returned.logprob > second  # the top token by probability, not one among ties or a sample
            assert abs(float(torch.logsumexp(dist, -1))) < 1e-4  # a normalised distribution
            ids.append(top)


def test_closing_a_stream_stops_the_engine(tiny_pipe):
    produced = []
    engine = tiny_pipe.engine
    original = engine.generate_ids  # wraps the real token loop to count what it really produced

    def counting(*args, **kwargs):
        for item in original(*args, **kwargs):
            produced.append(item)
            yield item

    engine.generate_ids = counting
    try:
        stream = tiny_pipe.stream("the capital", max_new_tokens=50, temperature=1.0, seed=3)
        next(stream)
        stream.close()
    finally:
        del engine.generate_ids
    assert len(produced) < 10 and stream.result is not None and stream.result.finish_reason == "cancelled"


def test_a_prompt_over_the_context_is_cut_from_the_left_with_a_warning(tiny_pipe):
    long_prompt = "the capital of France is Paris. " * 40  # far over the 128-token context
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = tiny_pipe.generate(long_prompt, max_new_tokens=8, seed=0)
    assert r.truncated_tokens > 0 and r.usage.prompt_tokens + 8 <= 128
    assert any("dropped the first" in str(w.message) for w in caught)


def test_conversation_keeps_and_resets_history(tiny_pipe):
    conv = tiny_pipe.chat(system="be brief", max_new_tokens=4, seed=0)
    conv.send("hello")
    conv.send("again")
    assert [m["role"] for m in conv.messages] == ["system", "user", "assistant", "user", "assistant"]
    conv.reset()
    assert conv.messages == [{"role": "system", "content": "be brief"}]
    with pytest.raises(InputError):
        conv.send("   ")


def test_empty_prompt_is_an_input_error(tiny_pipe):
    with pytest.raises(InputError, match="empty"):
        tiny_pipe.generate(" \n\t ")


def test_engine_choice_errors_name_the_fix(monkeypatch, tmp_path):
    from llmkit.engines import llamacpp_python
    from llmkit.errors import EngineUnavailableError
    from llmkit.hub import ModelRef
    from llmkit.engines.select import text_engine

    gguf = ModelRef("m", tmp_path / "m.gguf", "text-generation", "gguf", "llamacpp")
    folder = ModelRef("f", tmp_path, "text-generation", "transformers", "torch")
    monkeypatch.setattr(llamacpp_python, "available", lambda: False)
    with pytest.raises(EngineUnavailableError, match="pip install llama-cpp-python"):
        text_engine(gguf, "llama-cpp-python")
    with pytest.raises(InputError, match="needs a GGUF model"):
        text_engine(folder, "llama-cpp-python")
    with pytest.raises(InputError, match="must be one of auto, llamacpp, llama-cpp-python, torch"):
        text_engine(folder, "vllm")


def test_top_logprobs_are_the_likeliest_tokens_best_first(tiny_pipe):
    r = tiny_pipe.generate("the capital", max_new_tokens=4, temperature=0, logprobs=True, top_logprobs=3)
    for t in r.logprobs:
        assert len(t.top) == 3 and t.top[0] == (t.token, pytest.approx(t.logprob, abs=1e-6))
        assert [lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True)
    with pytest.raises(InputError, match="top_logprobs"):
        tiny_pipe.generate("the capital", max_new_tokens=2, logprobs=True, top_logprobs=21)
