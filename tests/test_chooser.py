"""The model chooser: `llmkit models bench` (a real model measured in its own process, cached per machine) and
`llmkit models recommend` (the ranking rule, checked on bench and eval files written here for made-up catalog
entries, so each case is exact), plus the CLI's mistakes."""
from __future__ import annotations

import json
import time

import pytest

from cli_helpers import llmkit
from llmkit import __version__
from llmkit.catalog import CATALOG
from llmkit.chooser import bench as benches
from llmkit.chooser.recommend import RecommendOptions, parse_size, recommend
from llmkit.errors import InputError
from llmkit.hardware import Gpu, Hardware, detect
from llmkit.hub import home

MB = 2**20


# ---------------------------------------------------------------------------------------------- hardware

def test_hardware_is_detected_and_the_fingerprint_keys_machine_and_version():
    hw = detect()
    assert hw.cores >= 1 and hw.memory_bytes > 64 * MB and hw.cpu
    assert set(hw.flags) <= {"avx", "avx2", "fma", "f16c", "avx512", "avx512-vnni", "avx-vnni", "avx512-bf16", "amx",
                             "neon", "neon-dotprod", "sve"}
    fp = hw.fingerprint(__version__)
    assert fp == detect().fingerprint(__version__)  # stable
    other_cores = Hardware(hw.cpu, hw.arch, hw.cores + 1, hw.memory_bytes, hw.flags)
    other_memory = Hardware(hw.cpu, hw.arch, hw.cores, hw.memory_bytes + 8 * 2**30, hw.flags)
    assert len({fp, other_cores.fingerprint(__version__), other_memory.fingerprint(__version__),
                hw.fingerprint("9.9.9")}) == 4
    assert hw.summary().count("·") == 4


def test_the_bench_child_runs_without_the_tcmalloc_that_llmkit_models_relaunched_with(monkeypatch):
    from llmkit import allocator

    monkeypatch.setenv(allocator._MARK, "1")
    monkeypatch.setenv("LD_PRELOAD", f"/usr/lib/{allocator.LIBRARY}:/opt/mine.so")
    env = allocator.plain_environment()
    assert env["LD_PRELOAD"] == "/opt/mine.so" and allocator._MARK not in env
    monkeypatch.setenv("LD_PRELOAD", f"/usr/lib/{allocator.LIBRARY}")
    assert "LD_PRELOAD" not in allocator.plain_environment()


# ---------------------------------------------------------------------------------------------- ranking

def _model(monkeypatch, name, *, task="text-generation", size_mb=100, engine="llamacpp", license="MIT", **extra):
    """A made-up catalog entry (not installed: its package does not exist)."""
    pip = {"package": f"no-{name}", "install": f"pip install no-{name}", "module": f"no_such_{name.replace('-', '_')}",
           "path": "x.gguf", "sha256": "0" * 64}
    monkeypatch.setitem(CATALOG, name, {"task": task, "engine": engine, "format": "gguf", "description": name,
                                        "parameters": "1M", "size_mb": size_mb, "license": license,
                                        "sources": {"pip": pip}, **extra})


def _bench(name, *, peak_mb, tps=None, texts=None, rtf=None, identity=None):
    record = {"model": name, "peak_rss_bytes": peak_mb * MB, "size_bytes": 100 * MB, "load_s": 1.0,
              "identity": identity or benches._identity(name), "first_token_s": 0.5 if tps else None}
    record.update({k: v for k, v in {"tokens_per_s": tps, "texts_per_s": texts, "rtf": rtf}.items() if v})
    folder = benches.bench_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record))


def _eval(name, suite, score, higher=True):
    folder = home() / "evals" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{suite}.json").write_text(json.dumps({"model": name, "suite": suite, "primary": "x", "score": score,
                                                      "higher_is_better": higher, "metrics": {"x": score}}))


@pytest.fixture
def only(monkeypatch):
    """A catalog holding just the made-up entries the test adds."""
    for name in list(CATALOG):
        monkeypatch.delitem(CATALOG, name)
    return lambda name, **kw: _model(monkeypatch, name, **kw)


def _names(rec):
    return [r.model for r in rec.rows]


def _generators(only, suite, **models):
    """name=(peak MB, tok/s, eval score or None): a catalog entry, its bench and its eval for each."""
    for name, (peak_mb, tps, score) in models.items():
        only(name)
        _bench(name, peak_mb=peak_mb, tps=tps)
        if score is not None:
            _eval(name, suite, score)


def test_quality_leads_and_a_faster_model_within_the_profile_tolerance_wins(only):
    # "close" is 3 points under "best" and faster
    _generators(only, "code", best=(900, 20, 0.60), close=(500, 50, 0.57), weak=(300, 100, 0.30))
    laptop = recommend(RecommendOptions("code", deploy="laptop"))  # tolerance 5 points
    assert _names(laptop) == ["close", "best", "weak"]
    assert "within 5 points of the best (best, 60.0%)" in laptop.why and "50.0 vs 20.0 tok/s" in laptop.why
    gpu = recommend(RecommendOptions("code", deploy="gpu"))  # tolerance 0: quality alone
    assert _names(gpu) == ["best", "close", "weak"]
    assert gpu.why.startswith("best wins: the best HumanEval pass@1 (60.0%) of the 3 models that fit")
    assert [r.cells("code")["quality"] for r in gpu.rows] == ["60.0%", "57.0%", "30.0%"]


def test_models_without_a_score_follow_fastest_first_and_the_why_names_the_eval(only):
    _generators(only, "chat", slow=(300, 10, None), fast=(300, 90, None), rated=(300, 5, 0.2))
    rec = recommend(RecommendOptions("chat"))
    assert _names(rec) == ["rated", "fast", "slow"]
    assert rec.rows[1].cells("chat")["quality"] == "—"
    (home() / "evals" / "rated" / "chat.json").write_text("{damaged")  # a damaged file: not evaluated
    rec = recommend(RecommendOptions("chat"))
    assert _names(rec) == ["fast", "slow", "rated"]
    assert "no model that fits has a chat-suite score yet (`llmkit eval fast --suite chat` fills it)" in rec.why


def test_a_limit_run_is_saved_apart_and_never_ranked(only):
    from llmkit.evals.results import SuiteResult, load_results, save

    _generators(only, "chat", full=(300, 10, None), quick=(300, 90, None))
    full = SuiteResult("full", "chat", "accuracy", {"accuracy": 0.7}, n=40)
    first3 = SuiteResult("full", "chat", "accuracy", {"accuracy": 1.0}, n=3, options={"limit": 3})
    paths = [save(r)[0].name for r in (full, first3)]
    assert paths == ["chat.json", "chat-first3.json"]  # the quick look does not replace the full result
    save(SuiteResult("quick", "chat", "accuracy", {"accuracy": 1.0}, n=3, options={"limit": 3}))
    assert load_results("full")["chat"]["score"] == 0.7 and load_results("quick") == {}
    rec = recommend(RecommendOptions("chat"))
    assert [r.cells("chat")["quality"] for r in rec.rows] == ["70.0%", "—"]  # 3 of 3 right ranks nothing


def test_a_base_model_is_no_chat_candidate_and_makers_scores_are_shown_not_ranked(only):
    only("base", chat=False)
    only("coder", reported={"humaneval": 61.6})
    _bench("coder", peak_mb=300, tps=5)
    _bench("base", peak_mb=300, tps=50)
    assert _names(recommend(RecommendOptions("chat"))) == ["coder"]
    code = recommend(RecommendOptions("code"))
    assert _names(code) == ["base", "coder"]  # no eval yet: the faster first; a makers' figure does not rank
    assert code.rows[1].cells("code")["quality"] == "— (makers: 61.6%)" and code.rows[1].quality.points is None


def test_a_model_over_the_memory_budget_is_marked_not_dropped(only):
    only("small")
    only("measured-big")
    only("unmeasured-big", size_mb=1000)  # estimated from its size: over 500 MB
    _bench("small", peak_mb=300, tps=10)
    _bench("measured-big", peak_mb=800, tps=50)
    _eval("measured-big", "chat", 0.9)
    rec = recommend(RecommendOptions("chat", max_memory=parse_size("500MB")))
    assert _names(rec) == ["small", "measured-big", "unmeasured-big"]
    status = {r.model: r.status for r in rec.rows}
    assert status == {"small": "ok", "measured-big": "does not fit", "unmeasured-big": "does not fit (estimate)"}
    cells = rec.rows[2].cells("chat")
    assert cells["peak memory"].startswith("~") and "(estimate)" in cells["peak memory"]
    assert "not installed: `llmkit models pull unmeasured-big`" in cells["note"]
    assert rec.budget_from == "--max-memory"
    none = recommend(RecommendOptions("chat", max_memory=parse_size("100MB")))
    assert none.why.startswith("no model meets 100 MB of memory; the closest is")


def test_min_speed_marks_slow_models_and_unmeasured_ones_come_after(only):
    for name in ("quick", "sluggish", "unknown"):
        only(name)
    _bench("quick", peak_mb=300, tps=40)
    _bench("sluggish", peak_mb=300, tps=5)
    _eval("sluggish", "chat", 0.9)
    rec = recommend(RecommendOptions("chat", min_speed=20))
    assert _names(rec) == ["quick", "unknown", "sluggish"]
    assert [r.status for r in rec.rows] == ["ok", "speed not measured", "too slow"]


def test_asr_ranks_by_lowest_wer_and_shows_times_real_time(only):
    only("a", task="automatic-speech-recognition", engine="ctranslate2")
    only("b", task="automatic-speech-recognition", engine="ctranslate2")
    _bench("a", peak_mb=300, rtf=0.5)
    _bench("b", peak_mb=300, rtf=0.1)
    _eval("a", "asr", 0.05, higher=False)
    _eval("b", "asr", 0.15, higher=False)
    rec = recommend(RecommendOptions("asr", deploy="server"))
    assert _names(rec) == ["a", "b"] and rec.rows[0].cells("asr")["speed"] == "2.0 × real time"
    assert rec.rows[1].cells("asr")["speed"] == "10.0 × real time"


def test_the_deploy_profile_sets_the_default_budget(only):
    only("m")
    hw = Hardware("cpu", "x86_64", 2, 16 * 2**30, gpus=(Gpu("big gpu", 80 * 2**30),))
    assert recommend(RecommendOptions("chat", deploy="laptop"), hw).budget_bytes == 8 * 2**30
    gpu = recommend(RecommendOptions("chat", deploy="gpu"), hw)
    assert gpu.budget_bytes == int(80 * 2**30 * 0.9) and "the GPU's" in gpu.budget_from


def test_a_record_of_other_weights_is_not_reused(only):
    only("m")
    _bench("m", peak_mb=300, tps=10, identity="somethingelse")
    assert benches.cached("m") is None
    assert recommend(RecommendOptions("chat")).rows[0].speed is None


@pytest.mark.parametrize("text, size", [("2GB", 2 * 2**30), ("1.5G", int(1.5 * 2**30)), ("512MB", 512 * MB),
                                        ("512 mib", 512 * MB), ("1000", 1000)])
def test_sizes_parse(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "2XB", "-1GB", "0", "GB", "two GB"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(InputError, match="--max-memory"):
        parse_size(text)


# ---------------------------------------------------------------------------------------------- CLI

def _one_line(r) -> str:
    err = r.stderr.decode()
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_cli_mistakes_are_one_line():
    r = llmkit("models", "recommend", "--task", "poetry")
    line = _one_line(r)
    assert r.returncode == 2 and "--task" in line and "'chat', 'code', 'classify', 'embed', 'asr'" in line
    r = llmkit("models", "recommend", "--task", "chat", "--max-memory", "lots")
    line = _one_line(r)
    assert r.returncode == 2 and "--max-memory" in line and "2GB" in line and "'lots'" in line
    r = llmkit("models", "recommend", "--task", "chat", "--min-speed", "-3")
    assert r.returncode == 2 and "--min-speed must be above zero" in _one_line(r)
    r = llmkit("models", "bench", "no-such-model")
    assert r.returncode == 3 and "unknown model 'no-such-model'" in _one_line(r)


def test_bench_of_a_model_not_installed_names_the_pull_command():
    r = llmkit("models", "bench", "minilm-sentiment")  # built on first use; this temporary home has none
    line = _one_line(r)
    assert r.returncode == 3 and "`llmkit models pull minilm-sentiment`" in line
    assert not (home() / "bench").exists() or not any((home() / "bench").rglob("*.json"))


def test_recommend_prints_a_table_and_why_without_asking_when_not_a_terminal():
    r = llmkit("models", "recommend", "--task", "embed", "--max-memory", "2GB", input="y\n")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()
    assert "all-minilm-l6-v2" in out and "why: " in out and "not benched" in out and "--bench-missing" in out
    assert not any((home() / "bench").rglob("*.json"))  # piped stdin: no prompt, nothing measured


# ---------------------------------------------------------------------------------------------- real benches

@pytest.mark.slow
def test_recommend_bench_missing_measures_an_encoder_cached_per_machine_and_reused():
    from llmkit.hub import is_installed

    others = [n for n, e in CATALOG.items() if e["task"] == "sentence-embeddings" and n != "all-minilm-l6-v2"]
    for name in filter(is_installed, others):  # measured already, so that only MiniLM is benched here
        _bench(name, peak_mb=900, texts=10)
    r = llmkit("models", "recommend", "--task", "embed", "--bench-missing", "--json")
    assert r.returncode == 0, r.stderr.decode()
    assert "benching all-minilm-l6-v2" in r.stderr.decode()
    rec = json.loads(r.stdout)
    row = next(x for x in rec["rows"] if x["model"] == "all-minilm-l6-v2")
    assert rec["unbenched"] == [] and row["memory_estimated"] is False and row["speed"] > 0
    r = llmkit("models", "bench", "all-minilm-l6-v2", "--json")
    assert r.returncode == 0 and "benching" not in r.stderr.decode()  # the cached record, not a new run
    record = json.loads(r.stdout)
    assert record["texts_per_s"] == row["speed"] and record["load_s"] > 0
    assert record["peak_rss_bytes"] > record["baseline_rss_bytes"] > 0  # the model's own process, loaded
    assert record["size_bytes"] > 80 * MB and record["engine"] in ("onnx-int8", "torch")
    assert record["allocator"] == "system"  # as `llmkit serve` runs it, not under `llmkit models`'s tcmalloc
    # This fresh home exports MiniLM to ONNX first (torch: about 1.4 GB); the bench measures the run, not that.
    assert record["peak_rss_bytes"] < 2**30
    hw = detect()
    assert record["fingerprint"] == hw.fingerprint(__version__) and record["machine"]["cores"] == hw.cores
    cache = home() / "bench" / hw.fingerprint(__version__) / "all-minilm-l6-v2.json"
    assert json.loads(cache.read_text()) == record
    time.sleep(1.1)  # measured_at has one-second resolution
    forced = json.loads(llmkit("models", "bench", "all-minilm-l6-v2", "--force", "--json").stdout)
    assert forced["measured_at"] != record["measured_at"]
    human = llmkit("models", "bench", "all-minilm-l6-v2").stdout.decode()
    assert "texts/s" in human and "peak memory" in human


@pytest.mark.slow
def test_bench_a_generator_then_recommend_uses_it():
    r = llmkit("models", "bench", "smollm2-135m-instruct", "--json")
    assert r.returncode == 0, r.stderr.decode()
    record = json.loads(r.stdout)
    assert record["tokens_per_s"] > 0 and record["first_token_s"] > 0 and record["completion_tokens"] > 1
    assert record["engine"] == "llamacpp"
    rec = json.loads(llmkit("models", "recommend", "--task", "chat", "--json").stdout)
    row = next(x for x in rec["rows"] if x["model"] == "smollm2-135m-instruct")
    assert row["speed"] == pytest.approx(record["tokens_per_s"]) and row["memory_bytes"] == record["peak_rss_bytes"]
    assert row["memory_estimated"] is False and "smollm2-135m-instruct" not in rec["unbenched"]
    tight = json.loads(llmkit("models", "recommend", "--task", "chat", "--max-memory", "64MB", "--json").stdout)
    assert {x["status"] for x in tight["rows"]} <= {"does not fit", "does not fit (estimate)"}
