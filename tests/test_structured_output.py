"""Structured output is enforced, not hoped for: response_format json_schema / json_object on the server's chat and
completions routes (the official ``openai`` SDK against a real server on 127.0.0.1), the pipeline's
``json_schema`` option and ``llmkit generate --json-schema FILE``, all on the real SmolLM2 weights. A 135M model
left alone answers these prompts with prose or Python; constrained, every answer parses and validates."""
from __future__ import annotations

import json

import pytest

openai = pytest.importorskip("openai")
jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("llguidance")

from cli_helpers import llmkit as run_cli  # noqa: E402
from serve_helpers import real_server  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]

KEY = "sk-test-structured"
CHAT = "smollm2-135m-instruct"

NAME = {"type": "string", "minLength": 1, "maxLength": 40}
# 20 schemas, each with a prompt: nested objects, arrays with bounds, enums, required fields, numbers with bounds,
# patterns, constants, unions, nullable fields, references.
CASES = [
    ("Describe Paris.", {"type": "object", "properties": {"city": NAME, "population": {"type": "integer",
     "minimum": 0, "maximum": 100_000_000}}, "required": ["city", "population"], "additionalProperties": False}),
    ("Rate the film Alien from 1 to 5.", {"type": "object", "properties": {"title": NAME, "stars": {
     "type": "integer", "minimum": 1, "maximum": 5}}, "required": ["title", "stars"], "additionalProperties": False}),
    ("Is the sky green?", {"type": "object", "properties": {"answer": {"type": "boolean"}},
     "required": ["answer"], "additionalProperties": False}),
    ("What is the mood of: 'I love this coffee'?", {"type": "object", "properties": {"sentiment": {
     "enum": ["positive", "negative", "neutral"]}}, "required": ["sentiment"], "additionalProperties": False}),
    ("List three colours.", {"type": "object", "properties": {"colours": {"type": "array", "items": NAME,
     "minItems": 3, "maxItems": 3}}, "required": ["colours"], "additionalProperties": False}),
    ("Give a person with an address.", {"type": "object", "properties": {"name": NAME, "address": {
     "type": "object", "properties": {"street": NAME, "city": NAME, "zip": {"type": "string",
     "pattern": "^[0-9]{5}$"}}, "required": ["street", "city", "zip"], "additionalProperties": False}},
     "required": ["name", "address"], "additionalProperties": False}),
    ("Give the temperature in Oslo in Celsius.", {"type": "object", "properties": {"celsius": {"type": "number",
     "minimum": -60, "maximum": 50}}, "required": ["celsius"], "additionalProperties": False}),
    ("Pick a primary colour.", {"enum": ["red", "yellow", "blue"]}),
    ("How many legs does a spider have?", {"type": "integer", "minimum": 0, "maximum": 100}),
    ("Write a date in 2024.", {"type": "object", "properties": {"date": {"type": "string",
     "pattern": "^2024-[01][0-9]-[0-3][0-9]$"}}, "required": ["date"], "additionalProperties": False}),
    ("Plan a two-item shopping list with quantities.", {"type": "object", "properties": {"items": {
     "type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "object", "properties": {"item": NAME,
     "quantity": {"type": "integer", "minimum": 1, "maximum": 99}}, "required": ["item", "quantity"],
     "additionalProperties": False}}}, "required": ["items"], "additionalProperties": False}),
    ("Give a point in 3D space.", {"type": "array", "items": {"type": "number", "minimum": -10, "maximum": 10},
     "minItems": 3, "maxItems": 3}),
    ("Describe a book; the subtitle may be missing.", {"type": "object", "properties": {"title": NAME,
     "subtitle": {"type": ["string", "null"], "maxLength": 40}}, "required": ["title", "subtitle"],
     "additionalProperties": False}),
    ("Classify the animal 'cat'.", {"type": "object", "properties": {"kind": {"const": "animal"},
     "legs": {"type": "integer", "minimum": 0, "maximum": 8}, "domestic": {"type": "boolean"}},
     "required": ["kind", "legs", "domestic"], "additionalProperties": False}),
    ("Return an id or a name for user 7.", {"type": "object", "properties": {"user": {"anyOf": [
     {"type": "integer", "minimum": 1, "maximum": 1000}, NAME]}}, "required": ["user"],
     "additionalProperties": False}),
    ("Give an RGB colour.", {"type": "object", "properties": {"r": {"type": "integer", "minimum": 0,
     "maximum": 255}, "g": {"type": "integer", "minimum": 0, "maximum": 255}, "b": {"type": "integer",
     "minimum": 0, "maximum": 255}}, "required": ["r", "g", "b"], "additionalProperties": False}),
    ("Tag this text with up to four keywords: cheap flights to Rome.", {"type": "object", "properties": {
     "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{1,12}$"}, "minItems": 1,
     "maxItems": 4}}, "required": ["tags"], "additionalProperties": False}),
    ("Describe a tree of two nodes.", {"$defs": {"node": {"type": "object", "properties": {"label": NAME,
     "children": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/leaf"}}},
     "required": ["label", "children"], "additionalProperties": False},
     "leaf": {"type": "object", "properties": {"label": NAME}, "required": ["label"], "additionalProperties": False}},
     "$ref": "#/$defs/node"}),
    ("Give a price in euros.", {"type": "object", "properties": {"amount": {"type": "number",
     "exclusiveMinimum": 0, "maximum": 10000}, "currency": {"const": "EUR"}}, "required": ["amount", "currency"],
     "additionalProperties": False}),
    ("Give a user profile.", {"type": "object", "properties": {"username": {"type": "string",
     "pattern": "^[a-z][a-z0-9_]{2,15}$"}, "age": {"type": "integer", "minimum": 13, "maximum": 120},
     "roles": {"type": "array", "items": {"enum": ["admin", "editor", "viewer"]}, "minItems": 1, "maxItems": 3}},
     "required": ["username", "age", "roles"], "additionalProperties": False}),
]


@pytest.fixture(scope="module")
def server():
    with real_server(api_keys=[KEY], max_tokens=400, n_ctx=2048) as url:
        yield url


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=300)


def fmt(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


@pytest.mark.parametrize("i", range(len(CASES)))
def test_every_answer_validates_against_its_schema(client, i):
    prompt, schema = CASES[i]
    # sampled, not greedy (temperature 0.8, a seed per case): the grammar holds whatever the sampler picks
    r = client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": prompt}], seed=i,
                                       temperature=0.8, max_tokens=300, response_format=fmt(schema))
    assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)


def test_completions_and_streams_are_constrained_too(client):
    prompt, schema = CASES[5]
    r = client.completions.create(model=CHAT, prompt=f"Q: {prompt}\nA:", max_tokens=300, temperature=0.8, seed=3,
                                  extra_body={"response_format": fmt(schema)})
    jsonschema.validate(json.loads(r.choices[0].text), schema)
    stream = client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": prompt}], seed=4,
                                            max_tokens=300, response_format=fmt(schema), stream=True)
    jsonschema.validate(json.loads("".join(c.choices[0].delta.content or "" for c in stream if c.choices)), schema)


def test_json_object_gives_a_json_object(client):
    r = client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content":
                                       "Reply with a JSON object with one key, ok, set to true."}],
                                       max_tokens=300, temperature=0, response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_bad_schemas_are_a_400_that_names_the_problem(client):
    hi = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError) as e:  # not JSON Schema at all
        client.chat.completions.create(model=CHAT, messages=hi, response_format=fmt(
            {"type": "object", "properties": {"age": {"type": "integr"}}}))
    err = e.value.body
    assert "not valid JSON Schema" in err["message"] and "$.properties.age.type" in err["message"]
    assert err["param"] == "response_format.json_schema.schema"
    with pytest.raises(openai.BadRequestError) as e:  # JSON Schema, but llama.cpp cannot compile "not"
        client.chat.completions.create(model=CHAT, messages=hi, response_format=fmt({"not": {"type": "string"}}))
    assert "cannot compile" in e.value.body["message"] and '"not"' in e.value.body["message"]
    with pytest.raises(openai.BadRequestError):  # type json_schema without a schema
        client.chat.completions.create(model=CHAT, messages=hi, response_format={"type": "json_schema"})


def test_the_pipeline_option_and_the_cli_flag(tmp_path):
    from llmkit import pipeline
    from llmkit.errors import InputError

    prompt, schema = CASES[10]
    gen = pipeline("text-generation", model=CHAT, threads=1)
    r = gen.generate([{"role": "user", "content": prompt}], json_schema=schema, max_new_tokens=300, seed=1)
    jsonschema.validate(json.loads(r.text), schema)
    with pytest.raises(InputError, match="not valid JSON Schema"):
        gen.generate("Hi", json_schema={"type": 5})

    path = tmp_path / "schema.json"
    path.write_text(json.dumps(CASES[0][1]))
    out = run_cli("generate", CASES[0][0], "--model", CHAT, "--json-schema", str(path), "--max-new-tokens", "300",
                  timeout=900)
    assert out.returncode == 0, out.stderr
    jsonschema.validate(json.loads(out.stdout), CASES[0][1])
    out = run_cli("generate", "Hi", "--model", CHAT, "--json-object", "--max-new-tokens", "300", "--temperature", "0",
                  timeout=900)
    assert out.returncode == 0 and isinstance(json.loads(out.stdout), dict), out.stderr
    path.write_text('{"type": "strnig"}')
    out = run_cli("generate", "Hi", "--model", CHAT, "--json-schema", str(path))
    err = out.stderr.decode()
    assert out.returncode == 2 and "not valid JSON Schema" in err and "Traceback" not in err, err
    out = run_cli("generate", "Hi", "--model", CHAT, "--json-schema", str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "missing.json" in out.stderr.decode()
