"""Structured output: the JSON schema an answer must follow (``GenerationOptions.json_schema``), checked once.

A schema is checked twice before any text is generated: that it is JSON Schema at all (``jsonschema``'s
validator for the schema's ``$schema`` draft, 2020-12 by default), then that llama.cpp can compile it into a grammar
(``llmkit.engines.grammar``). The engine then constrains decoding to it, so the answer always parses and validates
(unless ``max_new_tokens`` cuts it short: ``finish_reason`` is then "length").

>>> canonical_schema({"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}})
'{"properties":{"a":{"type":"integer"}},"required":["a"],"type":"object"}'
"""
from __future__ import annotations

import functools
import json
from typing import Any

from ..engines.grammar import ANY_OBJECT  # noqa: F401  (re-exported: the schema a json_object asks for)
from ..errors import InputError


def canonical_schema(schema: Any) -> str:
    """A schema (a dict, or its JSON text) checked and written as canonical JSON text (so options stay hashable
    and the compiled grammar is cached per schema)."""
    if isinstance(schema, str):
        return _canonical_text(schema)
    if not isinstance(schema, dict):
        raise InputError(f"json_schema (--json-schema) must be a JSON object (a schema), not {type(schema).__name__}.")
    check_schema(schema)
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    from ..engines import grammar

    if grammar.available():  # without it the engine refuses the option when asked to generate
        grammar.json_grammar(text)
    return text


@functools.lru_cache(maxsize=64)
def _canonical_text(text: str) -> str:  # options are re-checked on every replace(): once per schema is enough
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"json_schema (--json-schema) is not valid JSON: {e}.") from None
    except RecursionError:
        raise InputError("json_schema is nested too deeply to read; flatten it (use $defs and $ref).") from None
    return canonical_schema(schema)


def check_schema(schema: dict[str, Any]) -> None:
    try:
        from jsonschema import SchemaError
        from jsonschema.validators import validator_for
    except ImportError:
        raise InputError("checking a JSON schema needs jsonschema: `pip install 'llmkit[llamacpp]'`.") from None
    draft = schema.get("$schema")
    if draft is not None and not isinstance(draft, str):  # validator_for() crashes on a non-string $schema
        raise InputError(f"json_schema is not valid JSON Schema: $schema must be a URI string (got {draft!r}).")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as e:
        raise InputError(f"json_schema is not valid JSON Schema: {e.message} (at {e.json_path}).") from None
    except RecursionError:
        raise InputError("json_schema is nested too deeply to check; flatten it (use $defs and $ref).") from None
