"""One source for every option (llmkit.options): every field of TrainConfig, ServeSettings, GenerationOptions and
TranscribeOptions is a flag of its commands whose value reaches the options object the command builds; every
TrainConfig field is a YAML key of `finetune --config` and of tasks.yaml; the web app starts at the defaults."""
from __future__ import annotations

import json
from functools import cache

import pytest

from cli_helpers import llmkit
from llmkit import cli
from llmkit.options import flag, options_of
from llmkit.serve.settings import ServeSettings
from llmkit.tasks.generate_options import GenerationOptions
from llmkit.tasks.transcribe_options import TranscribeOptions
from llmkit.train.config import TrainConfig
from tiny import toy_sentiment

# Values a generic rule cannot guess (each valid and unlike the default).
SAMPLES = {"language": "de", "initial_prompt": "Llmkit, Whisper.", "host": "localhost",
           "draft": "qwen2.5-coder-0.5b-instruct"}


def sample(o) -> object:
    """A valid value unlike the default: another choice, the other bool, a number nearby, two list items."""
    if o.name in SAMPLES:
        return SAMPLES[o.name]
    if o.choices:
        return next(c for c in o.choices if c != o.default)
    if o.kind is bool:
        return not o.default
    if o.many:
        return {str: ["a", "b"], float: [0.0, 0.5]}[o.kind]
    if o.kind is int:
        return 2 if o.default is None else o.default + 1
    if o.kind is float:
        return o.default / 2 if o.default else 0.5
    raise AssertionError(f"add a sample value for {o.name} to SAMPLES")


def argv_for(o, value) -> list[str]:
    spelled = (o.extra.get("flags") or [o.flag])[0]
    if o.kind is bool:
        return [spelled if value else "--no-" + spelled[2:]]
    if isinstance(value, list):
        return [word for v in value for word in (spelled, str(v))]
    return [spelled, str(value)]


@cache
def parser(verb: str):
    return cli.build_parser({verb})


@pytest.fixture(scope="module")
def tasks_yaml(tmp_path_factory):
    path = tmp_path_factory.mktemp("mt") / "tasks.yaml"
    path.write_text("tasks:\n  - {name: sentiment, train: fine_food_reviews}\n")
    return path


def built(verb: str, argv: list[str], tasks_yaml) -> object:
    """The options object `llmkit VERB ARGV` would run with."""
    from llmkit.commands import finetune, generate, multitask, serve, transcribe

    if verb == "finetune":
        return TrainConfig(**finetune.merged_options(parser(verb).parse_args([verb, *argv]))[1])
    if verb == "multitask":
        from llmkit.train.mtl_config import MultitaskConfig

        args = parser(verb).parse_args([verb, "--config", str(tasks_yaml), *argv])
        return MultitaskConfig.from_dict(multitask.merged_options(args)).train
    if verb == "serve":
        return serve.settings_from_args(parser(verb).parse_args([verb, *argv]))
    if verb in ("generate", "chat"):
        return generate.options_from_args(parser(verb).parse_args([verb, *argv]))
    return transcribe.options_from_args(parser(verb).parse_args([verb, "talk.wav", *argv]), ["txt"])


CASES = [(verb, o) for verb, cls in [("finetune", TrainConfig), ("multitask", TrainConfig), ("serve", ServeSettings),
                                     ("generate", GenerationOptions), ("chat", GenerationOptions),
                                     ("transcribe", TranscribeOptions)] for o in options_of(cls)
         if o.extra.get("cli", True)]  # cli=False: a field with its own flags, tested by name below


@pytest.mark.parametrize("verb", ["generate"])
def test_json_schema_comes_from_its_own_flags(verb, tmp_path, tasks_yaml):
    """GenerationOptions.json_schema: --json-schema FILE (the file's schema) or --json-object."""
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object", "properties": {"city": {"type": "string"}}}')
    from llmkit.commands import generate

    for argv, expect in [(["--json-schema", str(schema)], "city"), (["--json-object"], '"object"')]:
        args = parser(verb).parse_args([verb, *argv])
        assert expect in generate.options_from_args(args, json_schema=generate.json_schema_from_args(args)).json_schema


@pytest.mark.parametrize("verb,option", CASES, ids=[f"{v}{flag(o.name)}" for v, o in CASES])
def test_every_option_is_a_flag_that_reaches_the_run(verb, option, tasks_yaml, monkeypatch):
    for o in options_of(ServeSettings):  # the environment must not decide a setting here
        monkeypatch.delenv("LLMKIT_SERVE_" + o.name.upper(), raising=False)
    value = sample(option)
    got = getattr(built(verb, argv_for(option, value), tasks_yaml), option.name)
    assert got == (tuple(value) if isinstance(got, tuple) else value)


@pytest.mark.parametrize("option", options_of(TrainConfig), ids=lambda o: o.name)
def test_every_training_option_is_a_yaml_key(option, tmp_path):
    """Of `finetune --config run.yaml` and of a multi-task tasks.yaml, spelled with _ or -."""
    from llmkit.commands import finetune
    from llmkit.train.mtl_config import MultitaskConfig

    value = sample(option)
    run = tmp_path / "run.yaml"
    run.write_text(json.dumps({option.name.replace("_", "-"): value}))  # JSON is YAML
    args = parser("finetune").parse_args(["finetune", "--config", str(run)])
    assert getattr(TrainConfig(**finetune.merged_options(args)[1]), option.name) == value
    mt = MultitaskConfig.from_dict({"tasks": [{"name": "t", "train": "fine_food_reviews"}], option.name: value})
    assert getattr(mt.train, option.name) == value


def test_finetune_runs_with_max_grad_norm_and_lora_alpha(tiny_encoder, tmp_path):
    """The two options the flag table had lost: a YAML key and a flag, both in the run's resolved config."""
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in toy_sentiment(48)))
    run = tmp_path / "run.yaml"
    run.write_text("epochs: 1\nbatch_size: 16\nmax_length: 16\nmax_grad_norm: 0.5\nmethod: lora\nlora_r: 2\n")
    r = llmkit("finetune", "--config", str(run), "--lora-alpha", "4", "--model", str(tiny_encoder), "--train",
               str(train), "--output", str(tmp_path / "out"), "-q")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    config = json.loads((tmp_path / "out" / "run_config.json").read_text())["config"]
    assert (config["max_grad_norm"], config["lora_alpha"], config["lora_r"]) == (0.5, 4, 2)


@pytest.mark.parametrize("verb,text,meant", [
    ("finetune", "max_grad_nrom: 0.5\n", "max_grad_norm"),
    ("serve", "max_input_char: 100\n", "max_input_chars"),
])
def test_a_misspelt_config_key_is_one_line_naming_the_key_meant(verb, text, meant, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    r = llmkit(verb, "--config", str(config))
    err = r.stderr.decode()
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"did you mean {meant}?" in err, err


def test_serve_limits_named_by_errors_are_flags():
    """The issue's four: each a flag whose value reaches ServeSettings (the input-length error names one)."""
    from llmkit.commands.serve import settings_from_args

    args = parser("serve").parse_args(["serve", "--max-input-chars", "100", "--default-max-tokens", "7",
                                       "--batch-max-pending", "9", "--retry-after-s", "3"])
    s = settings_from_args(args)
    assert (s.max_input_chars, s.default_max_tokens, s.batch_max_pending, s.retry_after_s) == (100, 7, 9, 3)


def test_web_app_chat_starts_at_the_generation_defaults(tmp_path):
    """The chat tab's controls hold GenerationOptions' defaults, so the app samples as the CLI and server do."""
    import gradio as gr

    from llmkit.ui.app import create_app
    from llmkit.ui.common import UiContext, UiSettings

    demo = create_app(ctx=UiContext(UiSettings(runs_dir=tmp_path)))
    # by element id: other tabs (Compare) have sliders with the same labels and their own defaults
    sliders = {b.elem_id: b.value for b in demo.blocks.values() if isinstance(b, gr.Slider) and b.elem_id}
    d = GenerationOptions()
    assert sliders["chat-temperature"] == d.temperature
    assert sliders["chat-top-p"] == d.top_p
    assert sliders["chat-top-k"] == d.top_k
    assert sliders["chat-repetition-penalty"] == d.repetition_penalty
    assert sliders["chat-max-new"] == d.max_new_tokens
