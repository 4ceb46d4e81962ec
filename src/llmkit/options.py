"""One source for every option: the fields of an options class become its CLI flags, its YAML keys and the web
app's defaults, so a new option is one line (a field with a type, a default and ``metadata={"help": ...}``).

Works on dataclasses (help in ``field(metadata=...)``) and on pydantic models such as ``ServeSettings`` (help in
``Field(description=...)``, the other keys in ``json_schema_extra``). Keys a field may carry besides ``help``:
``choices`` (else taken from a ``Literal`` type), ``flags`` (the spellings, e.g. ``("--model", "-m")``),
``metavar``, ``nargs`` (``"+"`` for a list given after one flag; lists are otherwise a repeatable flag), ``type``
(a converter for the flag's text), ``cli`` (False: a YAML/API-only option, no flag).

>>> from dataclasses import dataclass
>>> @dataclass
... class Opts:
...     max_len: int = opt(128, "truncate to this many tokens")
>>> import argparse; p = argparse.ArgumentParser(); add_flags(p, Opts)
['max_len']
>>> given(p.parse_args(["--max-len", "64"]), Opts)
{'max_len': 64}
>>> merge_keys(Opts, {"max-len": 32}, where="run.yaml")
{'max_len': 32}
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

from .errors import InputError


@dataclass(frozen=True)
class Option:
    """One field of an options class, read once: what a flag, a YAML key and a UI default need."""

    name: str
    kind: type                         # int, float, str or bool (the item type for a list)
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    many: bool = False                 # a list or tuple of `kind`
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def flag(self) -> str:
        return flag(self.name)


def opt(default: Any, help: str = "", **extra: Any) -> Any:
    """A dataclass field with its help (and ``choices``, ``flags``, ``metavar``, ``nargs``) in one line:
    ``lr: float = opt(5e-5, "peak learning rate of the body")``."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def flag(name: str) -> str:
    """The CLI spelling of an option: ``max_grad_norm`` -> ``--max-grad-norm``."""
    return "--" + name.replace("_", "-")


def options_of(cls: type) -> list[Option]:
    """The options of a dataclass or pydantic model, in field order."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return [_option(f.name, hints[f.name], _dataclass_default(f), dict(f.metadata)) for f in dataclasses.fields(cls)
                if f.init]
    fields = getattr(cls, "model_fields", None)
    if fields is None:
        raise TypeError(f"{cls!r} is neither a dataclass nor a pydantic model")
    return [_option(name, f.annotation, f.get_default(call_default_factory=True),
                    {"help": f.description or "", **(f.json_schema_extra or {})}) for name, f in fields.items()]


def _dataclass_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _option(name: str, annotation: Any, default: Any, meta: dict[str, Any]) -> Option:
    kind, choices, many = _unwrap(annotation)
    choices = tuple(meta.pop("choices", None) or choices or ()) or None
    return Option(name, kind, default, meta.pop("help", ""), choices, many, meta)


def _unwrap(annotation: Any) -> tuple[type, tuple[Any, ...] | None, bool]:
    """(item type, Literal choices, is a list) of ``int | None``, ``tuple[str, ...]``, ``Literal["a", "b"]``..."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else (str, None, False)
    if origin is Literal:
        return type(args[0]), tuple(args), False
    if origin in (list, tuple):
        kind, choices, _ = _unwrap(args[0]) if args else (str, None, False)
        return kind, choices, True
    return (annotation if isinstance(annotation, type) else str), None, False


# ---- CLI flags -------------------------------------------------------------------------------------------------

def add_flags(parser: Any, cls: type, *, only: Iterable[str] | None = None, skip: Iterable[str] = (),
              shown_defaults: Mapping[str, Any] | None = None) -> list[str]:
    """Add one flag per option of ``cls`` to ``parser`` (or an argument group); return their names.

    Every flag defaults to None, meaning "not given", so a config file, the environment or a preset below keeps
    its say (``given`` collects what was typed). ``shown_defaults`` overrides the default the help text states,
    for a command whose own default differs from the class's."""
    shown = dict(shown_defaults or {})
    wanted = list(only) if only is not None else None
    chosen = [o for o in options_of(cls) if o.name not in set(skip) and (wanted is None or o.name in wanted)
              and o.extra.get("cli", True)]
    if wanted is not None:
        missing = set(wanted) - {o.name for o in chosen}
        if missing:
            raise TypeError(f"{cls.__name__} has no option(s) {sorted(missing)}")
    for o in chosen:
        spellings = list(o.extra.get("flags") or [o.flag])
        kwargs: dict[str, Any] = {"dest": o.name, "default": None,
                                  "help": _help(o, shown.get(o.name, o.default))}
        if o.kind is bool and not o.many:  # off by default: --flag; on (or None, "auto"): --flag / --no-flag
            kwargs["action"] = "store_true" if o.default is False else argparse.BooleanOptionalAction
        else:
            kwargs["type"] = o.extra.get("type", o.kind)
            if o.choices:
                kwargs["choices"] = o.choices
            if o.many:
                kwargs.update({"nargs": "+"} if o.extra.get("nargs") == "+" else {"action": "append"})
            metavar = o.extra.get("metavar") or (None if o.choices else _METAVARS.get(o.kind))
            if metavar:
                kwargs["metavar"] = metavar
        parser.add_argument(*spellings, **kwargs)
    return [o.name for o in chosen]


_METAVARS = {int: "N", float: "X"}


def _help(o: Option, default: Any) -> str:
    text = o.help.replace("%", "%%")  # argparse formats help with %
    if "default" in text or default is None or default is False or default == () or default == []:
        return text
    if o.kind is bool:
        shown = "on" if default else "off"
    elif isinstance(default, (list, tuple)):
        shown = " ".join(str(d) for d in default)
    else:
        shown = str(default)
    return f"{text} (default: {shown})" if text else f"default: {shown}"


def given(args: argparse.Namespace, cls: type, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The options of ``cls`` given on the command line (flags left out are None and are left out here)."""
    wanted = set(names) if names is not None else {o.name for o in options_of(cls)}
    out = {}
    for name in wanted:
        value = getattr(args, name, None)
        if value is not None:
            out[name] = tuple(value) if isinstance(value, list) and _is_tuple(cls, name) else value
    return out


def _is_tuple(cls: type, name: str) -> bool:
    hint = typing.get_type_hints(cls).get(name) if dataclasses.is_dataclass(cls) else None
    return hint is not None and (typing.get_origin(hint) is tuple or any(
        typing.get_origin(a) is tuple for a in typing.get_args(hint)))


# ---- YAML keys -------------------------------------------------------------------------------------------------

def check_keys(keys: Iterable[str], known: Iterable[str], *, where: str) -> None:
    """Refuse unknown keys with one line that names the closest known key (a typo is the usual cause)."""
    known = sorted(set(known))
    unknown = sorted(set(keys) - set(known))
    if not unknown:
        return
    close = {key: match[0] for key in unknown if (match := difflib.get_close_matches(key, known, n=1, cutoff=0.6))}
    if len(unknown) == 1:
        hint = f" (did you mean {close[unknown[0]]}?)" if close else ""
    else:
        hint = f" (did you mean {', '.join(f'{m} for {k}' for k, m in close.items())}?)" if close else ""
    raise InputError(f"{where}: unknown option(s) {unknown}{hint}; known: {', '.join(known)}.")


def merge_keys(cls: type, values: Mapping[str, Any], *, where: str, extra: Iterable[str] = ()) -> dict[str, Any]:
    """A YAML mapping's keys as field names (``max-len`` and ``max_len`` both work), checked against the options
    of ``cls`` plus ``extra`` keys the caller handles itself; unknown keys are one clear error."""
    out = {str(k).replace("-", "_"): v for k, v in values.items()}
    check_keys(out, [o.name for o in options_of(cls)] + list(extra), where=where)
    return out


# ---- UI defaults -----------------------------------------------------------------------------------------------

def defaults(cls: type) -> dict[str, Any]:
    """Every option's default, for the web app's controls: the app then samples, trains and transcribes exactly as
    the CLI, the API and the server do unless the user moves a control."""
    return {o.name: o.default for o in options_of(cls)}
