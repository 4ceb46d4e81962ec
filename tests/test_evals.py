"""llmkit eval: the HumanEval harness (validated with the dataset's own canonical solutions), answer extraction,
pass@k, the chat suite's checks, saved results, bad input, and short real runs of each suite."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from cli_helpers import llmkit
from llmkit.evals import EvalOptions, run_suite
from llmkit.evals.chat import check
from llmkit.evals.chat_data import QUESTIONS
from llmkit.evals.humaneval import extract_code, load_problems, pass_at_k, program
from llmkit.evals.results import SuiteResult, load_results, model_slug, save
from llmkit.evals.sandbox import run_python
from llmkit.errors import InputError


# ----------------------------------------------------------------------------------------- the code harness

@pytest.mark.slow
def test_every_canonical_solution_passes_and_a_wrong_one_fails():
    """The harness, independent of any model: the reference solutions all pass through the sandbox."""
    problems = load_problems()
    assert len(problems) == 164
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: run_python(program(p, p["canonical_solution"], completion=True)),
                                problems))
    failed = [(p["task_id"], r.status, r.detail) for p, r in zip(problems, results) if not r.passed]
    assert not failed
    swapped = program(problems[1], problems[0]["canonical_solution"], completion=True)
    assert not run_python(swapped).passed


def test_a_chat_answer_with_a_whole_function_is_run_as_the_model_wrote_it():
    problem = load_problems()[2]  # truncate_number
    reply = ("import math\n\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n\n"
             "print(truncate_number(3.5))\nassert truncate_number(1) == 99\n"
             "if __name__ == '__main__':\n    raise SystemExit(1)\n```\nThis returns the decimal part.")
    code = extract_code(reply, problem["entry_point"])
    assert "print(" not in code and "__main__" not in code and "assert" not in code
    assert code.startswith("import math")
    assert run_python(program(problem, code, completion=False)).passed


def test_extraction_finds_the_fenced_block_that_defines_the_function_and_survives_a_cut_reply():
    reply = ("Here you go:\n```python\ndef helper():\n    return 1\n```\nand\n```python\n"
             "def f(x):\n    return x + helper()\n```\n")
    assert "def f(x)" in extract_code(reply, "f")
    cut = "def f(x):\n    return x\n\ndef g(y):\n    return [\n        1,"
    code = extract_code(cut, "f")
    assert "def f(x)" in code and "def g" not in code


def test_the_prompt_helpers_stay_available_to_the_answer():
    problem = next(p for p in load_problems() if p["task_id"] == "HumanEval/38")  # decode_cyclic uses encode_cyclic
    answer = "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n"
    assert run_python(program(problem, answer, completion=False)).passed


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0  # fewer than 5 failures: any 5 include a pass
    assert pass_at_k(5, 1, 2) == pytest.approx(1 - (4 * 3) / (5 * 4))


# ----------------------------------------------------------------------------------------- the chat suite

@pytest.mark.parametrize("question,reply,expected", [
    ({"any": ["Paris"]}, "The capital of France is Paris.", True),
    ({"any": ["Au"]}, "Gold's symbol is Aurum", False),  # a whole word, not a prefix
    ({"number": 42}, "17 + 25 = 42", True),
    ({"number": 42}, "It is 41.", False),
    ({"number": 1969}, "In 1,969? No: 1969", True),
    ({"json_keys": ["city", "country"]}, '{"city": "Paris", "country": "France"}', True),
    ({"json_keys": ["city", "country"]}, '```json\n{"city": "Paris", "country": "France"}\n```', True),
    ({"json_keys": ["city", "country"]}, 'Sure! {"city": "Paris"}', False),
    ({"words": 3}, "Deep, blue, endless.", True),
    ({"words": 3}, "The sea is deep.", False),
    ({"lower": True}, "it is sunny today.", True),
    ({"lower": True}, "It is sunny today.", False),
    ({"upper": True}, "HELLO", True),
    ({"lines": 3}, "red\ngreen\n\nblue\n", True),
    ({"lines": 3}, "red, green, blue", False),
    ({"starts": "Certainly"}, "certainly! A cat.", True),
    ({"regex": r"(?i)yes[.!]?"}, "Yes.", True),
    ({"regex": r"(?i)yes[.!]?"}, "Yes, the sun is a star.", False),
])
def test_chat_checks(question, reply, expected):
    assert check(question, reply) is expected


def test_the_chat_questions_are_well_formed():
    assert 30 <= len(QUESTIONS) <= 50
    assert len({q["id"] for q in QUESTIONS}) == len(QUESTIONS)
    assert {q["cat"] for q in QUESTIONS} == {"facts", "arithmetic", "format"}
    for q in QUESTIONS:
        check(q, "some reply")  # every question has a check kind that check() knows


# ----------------------------------------------------------------------------------------- results, options

def test_results_are_saved_as_json_and_markdown_and_read_back():
    result = SuiteResult(model="SmolLM2-135M-Instruct", suite="chat", primary="accuracy",
                         metrics={"accuracy": 0.5}, n=2,
                         items=[{"id": "a", "correct": True}, {"id": "b", "correct": False, "answer": "x|y"}])
    json_path, md_path = save(result)
    assert json_path.parent.name == "smollm2-135m-instruct"
    data = load_results("smollm2-135m-instruct")["chat"]
    assert data["score"] == 0.5 and data["n"] == 2 and data["llmkit_version"]
    assert {"model", "suite", "metrics", "date", "machine", "options", "items"} <= set(data)
    assert "| accuracy (primary) | 0.5000 |" in md_path.read_text() and "x\\|y" in md_path.read_text()
    assert load_results("never-evaluated") == {}


def test_a_run_with_another_prompt_is_saved_apart_and_never_ranked():
    def result(score, **options):
        return SuiteResult(model="smollm2-135m-instruct", suite="code", primary="pass@1", metrics={"pass@1": score},
                           n=164, options=options)

    save(result(0.25))
    json_path, _ = save(result(0.5, variant="makers"))
    assert json_path.name == "code-makers.json"
    assert load_results("smollm2-135m-instruct")["code"]["score"] == 0.25  # the default prompt's figure ranks


def test_model_slug():
    assert model_slug("/m/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert model_slug("runs/food/") == "food"


def test_options_are_validated_once():
    with pytest.raises(InputError, match="--temperature"):
        EvalOptions(samples=5)
    with pytest.raises(InputError, match="--limit"):
        EvalOptions(limit=0)
    with pytest.raises(InputError, match="code, chat, classify, asr"):
        run_suite("smollm2-135m-instruct", "poetry")


# ----------------------------------------------------------------------------------------- the command line

@pytest.mark.parametrize("args,code,words", [
    (["smollm2-135m-instruct", "--suite", "poetry"], 2, "code, chat, classify, asr"),
    (["no-such-model", "--suite", "chat"], 3, "unknown model"),
    (["sentiment", "--suite", "classify", "--data", "no_such_data.csv"], 2, "no such file"),
    (["whisper-tiny.en", "--suite", "asr"], 2, "--data"),
    (["smollm2-135m-instruct", "--suite", "code", "--samples", "3"], 2, "--temperature"),
    (["smollm2-135m-instruct", "--suite", "code", "--prompt", "makers"], 2, "knows no makers' prompt"),
    (["smollm2-135m-instruct", "--suite", "chat", "--prompt", "qwen-coder"], 2, "--prompt is for the code suite"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(args, code, words, tmp_path):
    r = llmkit("eval", *args, "--output", str(tmp_path))
    err = r.stderr.decode().strip()
    assert r.returncode == code, err
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err
    assert not list(tmp_path.iterdir()), "nothing is written for a run that did not happen"


@pytest.mark.slow
def test_code_suite_on_smollm2_reports_pass_at_1(tmp_path):
    r = llmkit("eval", "smollm2-135m-instruct", "--suite", "code", "--limit", "3", "--max-new-tokens", "200",
               "--threads", "1", "--output", str(tmp_path), "--json", timeout=900)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    data = json.loads(r.stdout)
    assert data["suite"] == "code" and data["n"] == 3 and data["primary"] == "pass@1"
    assert 0.0 <= data["score"] <= 1.0 and set(data["metrics"]) == {"pass@1"}
    assert [it["id"] for it in data["items"]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    for item in data["items"]:
        sample = item["samples"][0]
        assert sample["status"] in ("passed", "failed", "timeout", "killed") and "answer" in sample
    assert data["options"]["sandbox"] in ("namespaces", "rlimits")
    assert json.loads((tmp_path / "code-first3.json").read_text())["score"] == data["score"]  # apart from a full run
    assert "pass@1 (primary)" in (tmp_path / "code-first3.md").read_text()


@pytest.mark.slow
def test_the_makers_prompt_is_qwen_coders_own_chat_and_is_saved_apart(tmp_path):
    """--prompt makers asks the Qwen2.5-Coder models exactly as qwencoder-eval/instruct/eval_plus/model.py (ChatML)
    does, and the result is saved as code-makers, never read as the model's code score."""
    from llmkit.evals.humaneval import PROMPTINGS, chat_prompt
    from llmkit.pipelines import pipeline

    problem = load_problems()[0]
    pipe = pipeline("text-generation", model="qwen2.5-coder-0.5b-instruct", threads=1)
    makers = ("<|im_start|>system\nYou are an intelligent programming assistant to produce Python algorithmic "
              "solutions<|im_end|>\n<|im_start|>user\nCan you complete the following Python function?\n```python\n"
              f"{problem['prompt'].strip()}\n```\n<|im_end|>\n<|im_start|>assistant\n```python\n")
    assert chat_prompt(pipe, problem, PROMPTINGS["qwen-coder"]) == makers
    del pipe
    r = llmkit("eval", "qwen2.5-coder-0.5b-instruct", "--suite", "code", "--prompt", "makers", "--limit", "2",
               "--threads", "1", "--output", str(tmp_path), "--json", timeout=900)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    data = json.loads(r.stdout)
    assert data["options"]["variant"] == "makers" and "qwencoder-eval" in data["options"]["prompting"]
    assert all(item["samples"][0]["status"] in ("passed", "failed") for item in data["items"])
    assert (tmp_path / "code-makers-first2.json").exists() and not (tmp_path / "code-first2.json").exists()


@pytest.mark.slow
def test_chat_suite_on_smollm2_scores_its_answers(tmp_path):
    r = llmkit("eval", "smollm2-135m-instruct", "--suite", "chat", "--limit", "4", "--threads", "1",
               "--output", str(tmp_path), timeout=600)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert "chat on smollm2-135m-instruct: accuracy" in r.stdout.decode()
    data = json.loads((tmp_path / "chat-first4.json").read_text())
    assert data["n"] == 4 and all(isinstance(it["correct"], bool) and it["answer"] for it in data["items"])
    assert data["items"][0]["correct"], "SmolLM2 knows the capital of France"


@pytest.mark.slow
@pytest.mark.real_home
def test_classify_suite_on_the_sentiment_model(tmp_path):
    r = llmkit("eval", "sentiment", "--suite", "classify", "--data", "fine_food_reviews:test", "--limit", "60",
               "--output", str(tmp_path), "--json", timeout=600)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    data = json.loads(r.stdout)
    assert data["n"] == 60 and data["primary"] == "accuracy"
    assert data["metrics"]["accuracy"] > 0.7 and 0.5 < data["metrics"]["macro_f1"] <= 1.0


@pytest.mark.slow
def test_asr_suite_on_synthesised_speech(tmp_path):
    from speech_fixtures import SENTENCES, have_tools, synthesize

    if not have_tools():
        pytest.skip("needs espeak-ng and sox")
    clips = tmp_path / "clips"
    clips.mkdir()
    for i, sentence in enumerate(SENTENCES[:3]):
        synthesize(sentence, clips / f"s{i}.wav")
        (clips / f"s{i}.txt").write_text(sentence + "\n")
    r = llmkit("eval", "whisper-tiny.en", "--suite", "asr", "--data", str(clips), "--output", str(tmp_path / "o"),
               "--json", timeout=600)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    data = json.loads(r.stdout)
    assert data["n"] == 3 and data["primary"] == "wer" and data["higher_is_better"] is False
    assert data["metrics"]["wer"] < 0.3, data["items"]
    assert data["metrics"]["wer"] <= data["metrics"]["wer_raw"] + 1e-9  # normalising never adds errors here
    (clips / "s0.txt").unlink()
    bad = llmkit("eval", "whisper-tiny.en", "--suite", "asr", "--data", str(clips))
    assert bad.returncode == 2 and "s0.txt" in bad.stderr.decode()


@pytest.mark.slow
def test_sampling_gives_several_answers_per_problem(tmp_path):
    result = run_suite("smollm2-135m-instruct", "code", limit=1, samples=2, temperature=0.8, max_new_tokens=64,
                       threads=1)
    item = result.items[0]
    assert item["n"] == 2 and len(item["samples"]) == 2 and 0 <= item["c"] <= 2
    assert result.metrics["pass@1"] == pytest.approx(item["c"] / 2) and "pass@10" not in result.metrics
