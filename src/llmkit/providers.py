"""Remote model references (``openai:gpt-4o-mini``), the llmkit config file, API keys and the remote opt-in.

A reference is ``PROVIDER:MODEL`` or ``PROVIDER:MODEL@BASE_URL`` (any OpenAI-compatible server: vLLM, Ollama,
another ``llmkit serve``, Gemini's OpenAI endpoint), or an alias defined in ``$LLMKIT_HOME/config.toml``::

    [remote]
    allow = true                      # opt in to remote models (else --allow-remote / LLMKIT_ALLOW_REMOTE=1)
    [remote.openai]                   # per provider: api_key, base_url, timeout (s), max_retries
    timeout = 60
    [remote.models.gemini]            # `--model gemini`
    provider = "openai"
    model = "gemini-2.0-flash"
    base_url = "https://generativelanguage.googleapis.com/v1beta/openai/"
    api_key_env = "GEMINI_API_KEY"

>>> parse("openai:qwen2.5:0.5b@http://127.0.0.1:11434/v1").model
'qwen2.5:0.5b'

Nothing here touches the network: it decides *whether* text may leave (``check_allowed``) and with which key.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .options import add_flags, opt

PROVIDERS = ("openai", "anthropic")
HOSTS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# A key for a custom base URL: never the provider's own key, which would then go to a third party.
ENDPOINT_KEY_ENV = "LLMKIT_REMOTE_API_KEY"
ALLOW_ENV = "LLMKIT_ALLOW_REMOTE"
REDACT_ENV = "LLMKIT_REDACT"
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3  # the SDKs retry 408/409/429/5xx and connection errors with exponential backoff


@dataclass(frozen=True)
class RemoteOptions:
    """Remote use, defined once: these fields are the ``--allow-remote`` and ``--redact/--no-redact`` flags of
    every verb that can run a remote model (generate, chat, compare, ui, eval, batch generate), ``llmkit serve``'s
    ``redact`` setting (flag, YAML key, LLMKIT_SERVE_REDACT), the Python keywords ``allow_remote=``/``redact=``,
    and what the web app shows (``remote_allowed``/``redact_default`` resolve them). None: not said here, the
    environment and the config file decide."""

    allow_remote: bool = opt(False, f"let remote models (openai:..., anthropic:...; docs/remote.md) receive your "
                                    f"text, PII redacted (default: off; or {ALLOW_ENV}=1, or allow = true under "
                                    "[remote] in the config file)")
    redact: bool | None = opt(None, "remote models: replace emails, phones, cards, IBANs, IPs and URLs with "
                                    "placeholders before text leaves; --no-redact sends it as is (default: on; or "
                                    f"{REDACT_ENV}=0, or redact = false under [remote] in the config file)")


@dataclass(frozen=True)
class RemoteSpec:
    provider: str
    model: str
    base_url: str | None = None
    alias: str | None = None
    api_key_env: str | None = None

    @property
    def name(self) -> str:
        return self.alias or f"{self.provider}:{self.model}" + (f"@{shown(self.base_url)}" if self.base_url else "")


def shown(url: str | None) -> str | None:
    """A base URL as it may appear in messages and the audit log: no user:password@, no query (keys hide there)."""
    if not url:
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "") + parts.path


def config_path() -> Path:
    from .hub import home

    return home() / "config.toml"


def load_config() -> dict[str, Any]:
    """``$LLMKIT_HOME/config.toml`` (or ``config.yaml``); {} when there is none. A malformed file is one line."""
    from .hub import home

    toml, yaml_ = home() / "config.toml", home() / "config.yaml"
    try:
        if toml.is_file():
            import tomllib

            return tomllib.loads(toml.read_text(encoding="utf-8"))
        if yaml_.is_file():
            import yaml

            return yaml.safe_load(yaml_.read_text(encoding="utf-8")) or {}
    except Exception as e:  # tomllib/yaml errors: name the file, not a traceback
        path = toml if toml.is_file() else yaml_
        raise InputError(f"{path} is not valid: {str(e).splitlines()[0]}; fix or remove it.") from None
    return {}


def remote_config() -> dict[str, Any]:
    section = load_config().get("remote") or {}
    return section if isinstance(section, dict) else {}


def parse(ref: str) -> RemoteSpec | None:
    """A remote reference -> its spec; None when ``ref`` names no provider and no configured alias."""
    provider, sep, rest = ref.partition(":")
    if sep and provider in PROVIDERS:
        model, base_url = rest, None
        at = min((i for i in (rest.find("@http://"), rest.find("@https://")) if i > 0), default=-1)
        if at > 0:  # the first "@http": a URL may carry user:password@ itself
            model, base_url = rest[:at], rest[at + 1:]
        if not model:
            raise InputError(f"{ref!r} names no model: write {provider}:MODEL (e.g. openai:gpt-4o-mini).")
        return RemoteSpec(provider, model, base_url)
    alias = (remote_config().get("models") or {}).get(ref)
    if not isinstance(alias, dict):
        return None
    if alias.get("provider") not in PROVIDERS or not alias.get("model"):
        raise InputError(f"[remote.models.{ref}] in {config_path()} needs provider ({' or '.join(PROVIDERS)}) "
                         "and model.")
    return RemoteSpec(alias["provider"], str(alias["model"]), alias.get("base_url"), ref, alias.get("api_key_env"))


def remote_allowed(explicit: bool | None = None) -> bool:
    """Opt-in: ``explicit`` (``--allow-remote`` / ``allow_remote=``) wins, then LLMKIT_ALLOW_REMOTE, then config."""
    if explicit is not None:
        return bool(explicit)
    env = os.environ.get(ALLOW_ENV)
    if env is not None and env.strip():
        return env.strip().lower() in ("1", "true", "yes", "on")
    return remote_config().get("allow") is True


def configured_names() -> list[str]:
    """The remote model aliases of the config file (``[remote.models.NAME]``), when remote use is opted in: what
    a model picker may offer besides local models."""
    if not remote_allowed():
        return []
    return [name for name, v in (remote_config().get("models") or {}).items() if isinstance(v, dict)]


def add_remote_flags(parser: Any) -> None:
    """``--allow-remote`` and ``--redact/--no-redact``, from ``RemoteOptions``."""
    add_flags(parser, RemoteOptions)


def remote_from_args(args: Any) -> None:
    """For a command whose models load in other processes or later (compare, ui): the flags given apply to the
    whole process, as LLMKIT_ALLOW_REMOTE=1 / LLMKIT_REDACT=0 do, so compare's workers (child processes) and the
    web app's later loads see them."""
    if getattr(args, "allow_remote", None):
        os.environ[ALLOW_ENV] = "1"
    if getattr(args, "redact", None) is not None:
        os.environ[REDACT_ENV] = "1" if args.redact else "0"


def check_allowed(spec: RemoteSpec, explicit: bool | None = None) -> None:
    if not remote_allowed(explicit):
        where = shown(spec.base_url) or HOSTS[spec.provider]
        raise InputError(f"{spec.name} is a remote model: your text would be sent to {where}. Opt in with "
                         f"--allow-remote (Python: allow_remote=True; or {ALLOW_ENV}=1, or allow = true under "
                         f"[remote] in {config_path()}).")


def settings(spec: RemoteSpec) -> dict[str, Any]:
    """What the SDK client is built with: api_key, base_url, timeout, max_retries. Raises before any network
    call when no key is found for a provider's own endpoint."""
    section = remote_config()
    prov = section.get(spec.provider) or {}
    alias = (section.get("models") or {}).get(spec.alias or "", {}) if spec.alias else {}
    base_url = spec.base_url or prov.get("base_url")
    key = alias.get("api_key") or (os.environ.get(spec.api_key_env) if spec.api_key_env else None)
    if not key and base_url and not spec.alias and not prov.get("base_url"):
        key = os.environ.get(ENDPOINT_KEY_ENV) or "no-key"  # local servers often need none
    if not key:
        key = os.environ.get(KEY_ENV[spec.provider]) or prov.get("api_key")
    if not key:
        raise InputError(f"{spec.name} needs an API key: set {spec.api_key_env or KEY_ENV[spec.provider]}, or "
                         f"api_key under [remote.{spec.provider}] in {config_path()}.")
    try:
        timeout = float(alias.get("timeout", prov.get("timeout", DEFAULT_TIMEOUT)))
        retries = int(alias.get("max_retries", prov.get("max_retries", DEFAULT_RETRIES)))
    except (TypeError, ValueError):
        raise InputError(f"timeout and max_retries under [remote.{spec.provider}] in {config_path()} must be "
                         "numbers.") from None
    return {"api_key": key, "base_url": base_url, "timeout": timeout, "max_retries": retries}


def redact_default(explicit: bool | None = None) -> bool:
    """Redaction: ``explicit`` (``--redact/--no-redact``, ``redact=``) wins, then LLMKIT_REDACT, then ``redact``
    under [remote] in the config; on unless one of them says off."""
    if explicit is not None:
        return bool(explicit)
    env = os.environ.get(REDACT_ENV)
    if env is not None and env.strip():
        return env.strip().lower() not in ("0", "false", "no", "off")
    return remote_config().get("redact", True) is not False
