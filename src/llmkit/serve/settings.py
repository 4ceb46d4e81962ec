"""``ServeSettings``: every knob of the server, typed and bounded in one place.

Precedence, lowest first: defaults < a settings file (``--config``, YAML or JSON) < ``LLMKIT_SERVE_*`` environment
variables < command-line flags (the pattern of llama-cpp-python's ``server/settings.py``).

>>> ServeSettings(port=9000, api_keys=["sk-local"]).host
'127.0.0.1'
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ..devices import DEVICE_HELP, DEVICES, PRECISION_HELP, PRECISIONS
from ..engines.llamacpp import PROMPT_CACHE_HELP, PROMPT_CACHE_MIB
from ..errors import InputError
from ..options import check_keys, options_of
from ..providers import RemoteOptions
from ..tasks.generate_options import GenerationOptions, Speculative

_GEN = {o.name: o for o in options_of(GenerationOptions)}  # speculative/draft: defined there, once
_REMOTE = {o.name: o for o in options_of(RemoteOptions)}  # redact: the same option as every verb's --no-redact


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMKIT_SERVE_", extra="forbid", frozen=True)

    # Where to listen. 127.0.0.1 unless told otherwise: a model server is not something to expose by accident.
    host: str = Field("127.0.0.1", description="address to bind; 127.0.0.1 is this machine only")
    port: int = Field(8000, ge=0, le=65535, description="port")
    # Models to load at start (names, catalog aliases or folders); others load on first use.
    models: Annotated[list[str], NoDecode] = Field(
        [], description="load this model at start (repeatable); any catalog model also loads on first use; "
        "NAME=openai:MODEL[@URL] (or anthropic:) serves a remote model as NAME (with --allow-remote)",
        json_schema_extra={"flags": ("--model", "-m"), "metavar": "NAME_OR_DIR"})
    # Bearer keys; empty means no auth (fine on 127.0.0.1; create_app refuses any other host without one).
    api_keys: Annotated[list[str], NoDecode] = Field(
        [], description="require `Authorization: Bearer KEY` on every route but /health (repeatable)",
        json_schema_extra={"flags": ("--api-key",), "metavar": "KEY"})
    # Host names (the HTTP Host header) accepted besides localhost, IP literals and `host`: a web page on another
    # name could otherwise reach this server through DNS rebinding (llmkit.netguard). "*" accepts any.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        [], description="Host header names to answer besides localhost, IP addresses and --host (comma-separated, "
        "repeatable; '*' for any). Others get 403: this stops DNS-rebinding web pages",
        json_schema_extra={"metavar": "NAMES"})
    # /docs, /redoc and /openapi.json answer without a key even when keys are set.
    open_docs: bool = Field(False, description="serve /docs, /redoc and /openapi.json without a key (they need one "
                            "when keys are set)")
    # Clients may name catalog models and the ones listed in `models`; a folder or hub id only with this on.
    allow_any_model: bool = Field(False, description="let clients name local folders and hub ids, not just catalog "
                                  "and --model models")

    # Remote models (`--model NAME=openai:gpt-4o-mini`, docs/remote.md): served only when opted in; what leaves
    # is PII-redacted unless redact is off, and each call is in the audit log under LLMKIT_HOME.
    allow_remote: bool = Field(False, description="serve the remote models given with --model NAME=PROVIDER:MODEL "
                               "(requests' text is sent to the provider, PII redacted; or LLMKIT_ALLOW_REMOTE=1)")
    redact: bool | None = Field(_REMOTE["redact"].default, description=_REMOTE["redact"].help)

    # Limits: each one is an OpenAI-style error with its own status when crossed.
    # OpenAI's own audio upload limit is 25 MB
    max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="largest request body in bytes")
    max_audio_seconds: float = Field(1800.0, gt=0, description="longest audio to transcribe")
    max_prompt_tokens: int = Field(4096, ge=16, description="longest prompt")
    max_tokens: int = Field(2048, ge=1, le=32768, description="largest max_tokens a request may ask for")
    default_max_tokens: int = Field(256, ge=1, le=32768, description="max_tokens when a request leaves it out")
    max_inputs: int = Field(2048, ge=1, description="most texts per embeddings/classifications request")
    max_input_chars: int = Field(32768, ge=16, description="longest text in an embeddings/classifications request")
    max_n: int = Field(8, ge=1, le=128, description="most choices per request")
    # prompts x n per request: the generations one request may queue, all run in turn on one worker.
    max_generations: int = Field(16, ge=1, le=8192, description="most generations per request, prompts x n")
    # The whole request body must arrive within this many seconds of the request's start (408 after), so a
    # client that trickles or stalls its upload cannot hold a connection forever.
    body_timeout_s: float = Field(300.0, gt=0, description="seconds a request body may take to arrive before 408")

    # Throughput: dynamic batching for encoders, a fair bounded queue for generation and speech.
    batch_max_size: int = Field(64, ge=1, le=4096, description="most texts per encoder batch; 1 turns batching off")
    batch_max_wait_ms: float = Field(5.0, ge=0, le=1000, description="how long an idle encoder waits to fill a batch")
    batch_max_pending: int = Field(8192, ge=1, description="texts waiting per encoder model before 503")
    queue_size: int = Field(64, ge=1, description="generation/speech jobs queued per model before 503")
    queue_per_client: int = Field(16, ge=1, description="... per API key (or client address without keys) before 429")
    retry_after_s: int = Field(1, ge=1, description="the Retry-After of a 429 or 503")
    generation_slots: int = Field(1, ge=1, le=16, description="chat requests generating at once: llama.cpp slots in "
                                  "one model (decoded as one batch), or model copies for other engines")
    n_ctx: int = Field(4096, ge=256, description="context window for chat models")
    prompt_cache_mib: int = Field(PROMPT_CACHE_MIB, ge=0, description=f"llama.cpp: {PROMPT_CACHE_HELP}")
    threads: int | None = Field(None, ge=1, le=256, description="CPU threads per model (default: all cores)")
    # llmkit.devices: the same --device/--precision as every verb; text-to-speech (Piper) stays on the CPU
    device: Literal[DEVICES] = Field("cpu", description=DEVICE_HELP)  # type: ignore[valid-type]
    precision: Literal[PRECISIONS] = Field("fp32", description=PRECISION_HELP)  # type: ignore[valid-type]
    speculative: Speculative = Field(_GEN["speculative"].default, description=_GEN["speculative"].help)
    draft: str | None = Field(None, description=_GEN["draft"].help, json_schema_extra={"metavar": "MODEL"})
    repack: bool = Field(_GEN["repack"].default, description=_GEN["repack"].help)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field("info",
                                                                              description="uvicorn's log level")

    @field_validator("models", "api_keys", "allowed_hosts", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        """Environment variables give lists as JSON (``'["a","b"]'``) or comma-separated (``a,b``)."""
        if isinstance(v, str):
            v = v.strip()
            v = json.loads(v) if v.startswith("[") else [x.strip() for x in v.split(",") if x.strip()]
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _split_hosts(cls, v: list[str]) -> list[str]:
        """``--allowed-hosts a.example,b.example`` (repeatable) gives one entry per name."""
        return [h.strip() for item in v for h in item.split(",") if h.strip()]


def load_settings(config: str | Path | None = None, **flags: Any) -> ServeSettings:
    """Defaults < ``config`` file < environment < ``flags`` (flags that are None are left out)."""
    data: dict[str, Any] = {}
    if config:
        data = _renamed(_read_file(Path(config)), str(config), "no_redact", "redact")
        check_keys(data, ServeSettings.model_fields, where=str(config))  # a typo names the setting it meant
    try:
        from_env = ServeSettings()
        data.update({k: getattr(from_env, k) for k in from_env.model_fields_set})
        if os.environ.get(OLD_ENV, "").strip():
            old = {"no_redact": os.environ[OLD_ENV].strip(), **{k: data[k] for k in ("redact",)
                                                                 if k in from_env.model_fields_set}}
            data.update(_renamed(old, "the environment", OLD_ENV, "LLMKIT_SERVE_REDACT"))
        data.update({k: v for k, v in flags.items() if v is not None})
        return ServeSettings(**data)
    except ValidationError as e:
        problems = "; ".join(f"{_names(err['loc'])}: {err['msg'].lower()} (got {err.get('input')!r})"
                             for err in e.errors())
        raise InputError(f"bad server setting: {problems}.") from None
    except ValueError as e:
        raise InputError(f"bad server setting: {e}") from None


# `no_redact` became `redact` (session 8); the old YAML key and variable still work, inverted
OLD_ENV = "LLMKIT_SERVE_NO_REDACT"


def _renamed(data: dict[str, Any], where: str, old: str, new: str) -> dict[str, Any]:
    """``data`` with the old ``no_redact`` (named ``old`` in ``where``) turned into ``redact = not no_redact``."""
    if "no_redact" not in data:
        return data
    if "redact" in data:
        raise InputError(f"{where}: {old} is the old name of {new}, inverted; give {new} alone.")
    rest = {k: v for k, v in data.items() if k != "no_redact"}
    try:
        return {**rest, "redact": not TypeAdapter(bool).validate_python(data["no_redact"])}
    except ValidationError:
        raise InputError(f"{where}: {old} must be true or false (got {data['no_redact']!r}); it is now {new}, "
                         "inverted.") from None


def _names(loc: tuple) -> str:
    """A setting's flag and environment variable, e.g. --generation-slots (or LLMKIT_SERVE_GENERATION_SLOTS)."""
    field = str(loc[0]) if loc else "?"
    return f"--{field.replace('_', '-')} (or LLMKIT_SERVE_{field.upper()})"


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: no such settings file; give a YAML or JSON file (see docs/server.md).")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a settings file holds one mapping of setting: value.")
    return {k.replace("-", "_"): v for k, v in data.items()}
