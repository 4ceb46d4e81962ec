"""JSON Schema -> a llama.cpp grammar, for constrained decoding (``GenerationOptions.json_schema``).

xllamacpp's llama.cpp is built with llguidance, so a schema becomes ``%llguidance`` text that llama.cpp compiles
when a request starts. A schema it cannot compile there does not fail the request: llama.cpp logs it and samples
unconstrained, which would pass free text off as structured output. So the same compiler (the ``llguidance``
package) checks the grammar here first, and the error names the part of the schema it could not handle.
"""
from __future__ import annotations

import functools
import importlib.util

from ..errors import InputError

ANY_OBJECT = {"type": "object"}  # OpenAI's response_format {"type": "json_object"}
MISSING = "structured output needs llama.cpp's grammar checker: `pip install 'llmkit[llamacpp]'` (llguidance)."


def available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("xllamacpp", "llguidance"))


@functools.lru_cache(maxsize=64)
def json_grammar(schema_json: str) -> str:
    """The llama.cpp grammar for a JSON schema (given as JSON text); ``InputError`` naming the part of the schema
    llama.cpp cannot compile (e.g. ``Unimplemented keys: ["not"]``)."""
    if not available():
        raise InputError(MISSING)
    import llguidance
    import xllamacpp

    try:
        grammar = xllamacpp.json_schema_to_grammar(schema_json)
    except Exception as e:  # noqa: BLE001 - llama.cpp's converter refuses what it cannot read
        raise InputError(f"llama.cpp cannot read this JSON schema: {e}; simplify it.") from None
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    if is_error:
        # "at 2(8): failed to compile JSON schema: Unimplemented keys: [\"not\"]\n <the grammar, pointed at>"
        reason = (messages[0] if messages else "unknown error").splitlines()[0]
        reason = reason.split("failed to compile JSON schema:", 1)[-1].strip()
        raise InputError(f"llama.cpp cannot compile this JSON schema for constrained decoding: {reason}; "
                         "simplify that part of the schema.")
    return grammar
