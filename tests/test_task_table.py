"""The task table (``llmkit.task_table``) is the one source of what is keyed by pipeline task: each entry points at
things that exist (a catalog model for its task, a pipeline class, server routes, a web-app tab), and no other
module maps a task to its class, default model, routes or tab."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from llmkit import task_table
from llmkit.catalog import CATALOG, canonical_name
from llmkit.task_table import TASKS

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "llmkit"


@pytest.mark.parametrize("task", TASKS.values(), ids=lambda t: t.name)
def test_every_default_model_is_a_catalog_model_for_its_task(task):
    for model in {task.default_model, *task.route_models.values()}:
        assert model in CATALOG, f"{task.name}: default model {model!r} is not in the catalog"
        assert CATALOG[model]["task"] in task.names, f"{model} is a {CATALOG[model]['task']} model, not {task.name}"
    assert set(task.route_models) <= set(task.routes), "a route default for a route the task does not have"


def test_models_prepare_readies_exactly_the_defaults():
    """`make run` (`llmkit models prepare`) gets every task's and route's default and nothing else: the chat
    default is Qwen2.5-Coder 1.5B (chosen by measurement), so the faster 0.5B and SmolLM2 are a `models pull` away."""
    from llmkit.commands.models import defaults

    expected = {m for t in TASKS.values() for m in (t.default_model, *t.route_models.values())}
    assert set(defaults()) == expected and len(defaults()) == len(expected)
    assert "qwen2.5-coder-1.5b-instruct" in expected
    assert not expected & {"qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"}
    assert defaults()[-1] == "minilm-sentiment"  # the one llmkit trains comes last


@pytest.mark.parametrize("task", TASKS.values(), ids=lambda t: t.name)
def test_every_task_has_a_pipeline_class(task):
    cls = task.load_class()
    assert callable(getattr(cls, "from_ref", None)), f"{task.implementation} has no from_ref"
    assert cls.__module__.startswith("llmkit.tasks."), "a task's class lives in llmkit/tasks/"


def test_every_catalog_model_has_a_task_in_the_table():
    orphans = {name: e["task"] for name, e in CATALOG.items() if task_table.find(e["task"]) is None}
    assert not orphans, f"catalog models whose task is not in llmkit/task_table.py: {orphans}"


def test_names_and_aliases_are_unique_and_all_accepted():
    names = task_table.names()
    assert len(names) == len(set(names)) == sum(len(t.names) for t in TASKS.values())
    for task in TASKS.values():
        assert all(task_table.get(n) is task for n in task.names)
    assert task_table.find("no-such-task") is None and task_table.find(None) is None


def test_the_server_serves_exactly_the_tables_routes():
    pytest.importorskip("fastapi")
    from llmkit.serve import ServeSettings, create_app

    def routes(of):  # FastAPI 0.165 keeps an included router whole (its routes inside), older ones copy them in
        for r in of:
            yield from routes(r.original_router.routes) if hasattr(r, "original_router") else [r]

    posted = {r.path for r in routes(create_app(ServeSettings()).routes)
              if "POST" in (getattr(r, "methods", None) or ()) and r.path.startswith("/v1/")}
    assert posted, "no routes found: has FastAPI changed how it keeps them?"
    routed = [route for task in TASKS.values() for route in task.routes]
    assert len(routed) == len(set(routed)), "a route serves two tasks"
    assert set(routed) <= posted, f"routes in the task table the app lacks: {set(routed) - posted}"
    assert posted <= set(routed), f"task routes of the app missing from the task table: {posted - set(routed)}"


def test_the_servers_form_defaults_are_the_tables():
    """The speech routes name their default model in the form (OpenAI's clients see it in /openapi.json)."""
    pytest.importorskip("fastapi")
    from llmkit.serve import ServeSettings, create_app

    schemas = create_app(ServeSettings()).openapi()["components"]["schemas"]
    asr = task_table.get("automatic-speech-recognition")
    for route in asr.routes:
        form = next(s for name, s in schemas.items() if name.startswith("Body_") and route.rsplit("/", 1)[1] in name)
        assert form["properties"]["model"]["default"] == asr.model_for(route), route


def test_every_tab_in_the_table_is_in_the_web_app():
    gr = pytest.importorskip("gradio")
    from llmkit.ui.app import create_app

    demo = create_app()
    tabs = {b.id for b in demo.blocks.values() if isinstance(b, gr.Tab)}
    for task in TASKS.values():
        assert task.tab is None or task.tab in tabs, f"{task.name}: no tab {task.tab!r} in the web app ({tabs})"


def _second_tables(source: str, where: str) -> list[str]:
    """Dict literals in ``source`` that map a task to what the task table holds (a default model, a pipeline class,
    a server route, a web-app tab), keyed by task (``{"text-generation": "smollm2-135m-instruct"}``) or by
    something else with the task in the entry (``{"chat": ("text-generation", "/v1/chat/completions")}``)."""
    tasks = set(task_table.names())
    tabs = {t.tab for t in TASKS.values() if t.tab}

    def strings(node: ast.AST) -> list[str]:
        return [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]

    def table_like(value: str) -> bool:
        return bool(canonical_name(value)) or value.startswith(("llmkit.tasks.", "/v1/")) or value in tabs

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Dict):
            continue
        keyed = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)} & tasks
        by_task = keyed and any(table_like(s) for v in node.values for s in strings(v))
        in_entry = any(set(strings(v)) & tasks and any(s.startswith("/v1/") for s in strings(v))
                       for v in node.values)
        if by_task or in_entry:
            found.append(f"{where} line {node.lineno}")
    return found


def test_no_other_module_maps_tasks_to_what_the_table_holds():
    found = [hit for p in sorted(PACKAGE.rglob("*.py")) if p.name != "task_table.py"
             for hit in _second_tables(p.read_text(encoding="utf-8"), str(p.relative_to(PACKAGE)))]
    assert not found, "move these into llmkit/task_table.py: " + "; ".join(found)


def test_the_check_sees_a_second_table():
    """The check above is not vacuous: each of the tables the task table replaced would be caught."""
    old = ('DEFAULTS = {"text-generation": "smollm2-135m-instruct"}\n'
           'KINDS = {"chat": (frozenset({"text-generation"}), "text-generation", "/v1/chat/completions")}\n'
           'TASKS = {"sentiment-analysis": "llmkit.tasks.classify:TextClassificationPipeline"}\n'
           'TABS = {"automatic-speech-recognition": "transcribe"}\n'
           'FINE = {"text-classification": 3}\nCATALOG_LIKE = {"task": "text-generation", "model": "whisper-base"}\n')
    assert _second_tables(old, "old") == [f"old line {n}" for n in (1, 2, 3, 4)]


def _model_defaults(source: str, where: str) -> list[str]:
    """Parameters of functions in ``source`` whose default is a catalog model (a route's or a tab's own default)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for default in [*args.defaults, *args.kw_defaults]:
                value = default.value if isinstance(default, ast.Constant) else None
                if isinstance(value, str) and canonical_name(value):
                    found.append(f"{where} line {default.lineno}: {default.value!r}")
    return found


def test_the_server_and_the_web_app_take_default_models_from_the_table():
    shells = [p for folder in ("serve", "ui") for p in sorted((PACKAGE / folder).glob("*.py"))]
    found = [hit for p in shells for hit in _model_defaults(p.read_text(encoding="utf-8"), p.name)]
    assert not found, "use llmkit.task_table's default_model / model_for(route): " + "; ".join(found)
    assert _model_defaults('async def f(model: str = "whisper-base"): ...', "old") == ["old line 1: 'whisper-base'"]


@pytest.mark.real_home
def test_each_route_serves_its_task_and_names_the_route_of_another(tiny_encoder):
    """The server reads the table: a task's alias is served by its task's route (the tiny encoder is a
    feature-extraction model), and a model of another task is refused with the route that serves it."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from llmkit.serve import ServeSettings
    from llmkit.serve.background import running

    with running(ServeSettings(allow_any_model=True)) as url:
        ok = httpx.post(url + "/v1/embeddings", json={"model": str(tiny_encoder), "input": "hello"}, timeout=120)
        assert ok.status_code == 200 and len(ok.json()["data"][0]["embedding"]) > 0
        for route, model, served_by in [("/v1/classifications", str(tiny_encoder), "/v1/embeddings"),
                                        ("/v1/embeddings", "whisper-tiny.en", "/v1/audio/transcriptions"),
                                        ("/v1/chat/completions", "all-minilm-l6-v2", "/v1/embeddings")]:
            body = {"model": model, "input": "hi", "messages": [{"role": "user", "content": "hi"}]}
            r = httpx.post(url + route, json=body, timeout=120)
            error = r.json()["error"]
            assert r.status_code == 400 and error["code"] == "model_task_mismatch", (route, r.text)
            assert f"use it with {served_by} " in error["message"], error["message"]


@pytest.mark.slow  # the joined Qwen file, as `make models` prepared it
@pytest.mark.real_home
def test_a_blank_model_on_the_servers_chat_routes_is_the_default_chat_model():
    """The server's pool takes the chat default from the table too: Qwen2.5-Coder 1.5B (resolved, not loaded)."""
    pytest.importorskip("fastapi")
    import asyncio

    from llmkit.serve import ServeSettings
    from llmkit.serve.metrics import Metrics
    from llmkit.serve.models import ModelPool

    pool = ModelPool(ServeSettings(), Metrics())
    for blank in ("", "  "):
        ref = asyncio.run(pool.ref("text-generation", blank))
        assert ref.name == TASKS["text-generation"].default_model == "qwen2.5-coder-1.5b-instruct"
        assert ref.format == "gguf" and ref.task == "text-generation"
