"""Structured-output options without a model: what a schema must be, the errors that name the problem, and the
refusal of an engine that cannot constrain its decoding (the real torch engine on a tiny random model)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("jsonschema")
pytest.importorskip("llguidance")

from llmkit.errors import InputError  # noqa: E402
from llmkit.tasks.generate_options import GenerationOptions  # noqa: E402
from test_generate_unit import tiny_pipe  # noqa: E402,F401 - the fixture

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer", "maximum": 3}}, "required": ["a"]}


def test_a_schema_is_kept_as_canonical_text_and_options_stay_hashable():
    a = GenerationOptions(json_schema=SCHEMA)
    b = GenerationOptions(json_schema=json.dumps(SCHEMA, indent=2))
    assert a.json_schema == b.json_schema and json.loads(a.json_schema) == SCHEMA
    assert hash(a) == hash(b) and a.replace(temperature=0).json_schema == a.json_schema
    assert GenerationOptions().json_schema is None


@pytest.mark.parametrize("schema, words", [
    ({"type": "integr"}, ["not valid JSON Schema", "$.type"]),
    ({"properties": {"x": {"minimum": "low"}}}, ["not valid JSON Schema", "$.properties.x.minimum"]),
    ({"not": {"type": "string"}}, ["cannot compile", '"not"']),
    ({"type": "string", "pattern": "(("}, ["not valid JSON Schema", "regex"]),
    ({"$ref": "#/$defs/missing"}, ["cannot compile", "/$defs/missing"]),
    ({"$schema": [1]}, ["$schema must be a URI string"]),
    ("[1, 2]", ["must be a JSON object"]),
    ("{not json", ["not valid JSON"]),
    ("[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
])
def test_bad_schemas_name_the_problem(schema, words):
    with pytest.raises(InputError) as e:
        GenerationOptions(json_schema=schema)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_an_engine_without_grammars_refuses_instead_of_ignoring(tiny_pipe):  # noqa: F811
    with pytest.raises(InputError, match="needs the llama.cpp engine"):
        tiny_pipe.generate("Hello", json_schema=SCHEMA, max_new_tokens=4)
