"""Request and response bodies: OpenAI's shapes, every field bounded (``Field(ge=, le=)``), so a malformed or
oversized request is a 400 before any model is touched. Server-specific limits (``max_tokens``, prompt length)
are checked against the settings in the routes, since they change per deployment.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ..task_table import get

# Static ceilings; the settings may set lower ones.
MAX_TEXT = 1_000_000
MAX_LIST = 65_536

Text = Annotated[str, Field(max_length=MAX_TEXT)]
Stop = Union[Annotated[str, Field(min_length=1, max_length=256)],
             Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=4)], None]


class _Body(BaseModel):
    # Unknown fields are ignored, as OpenAI-compatible servers do, so newer SDKs keep working.
    model_config = ConfigDict(extra="ignore")


class TextPart(BaseModel):
    type: Literal["text"]
    text: Text


class CalledFunction(BaseModel):
    name: Annotated[str, Field(max_length=256)]
    arguments: Text = Field("{}", description="JSON text, as OpenAI sends it.")


class ToolCallIn(BaseModel):
    """An assistant's earlier tool call, in the history."""

    id: Annotated[str, Field(max_length=256)] = ""
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[Text, Annotated[list[TextPart], Field(max_length=256)], None] = None
    name: Annotated[str, Field(max_length=256)] | None = None
    tool_calls: Annotated[list[ToolCallIn], Field(max_length=128)] | None = None
    tool_call_id: Annotated[str, Field(max_length=256)] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class JSONSchemaFormat(BaseModel):
    name: Annotated[str, Field(max_length=64)] = "response"
    description: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    schema_: dict[str, Any] = Field(..., alias="schema", description="The JSON Schema the answer must follow.")
    strict: bool | None = Field(None, description="Accepted; the schema is always enforced (constrained decoding).")


class ResponseFormat(BaseModel):
    """OpenAI's response_format: "json_object" or "json_schema" are enforced with llama.cpp grammars."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Sampling(_Body):
    model: Annotated[str, Field(max_length=1024)]
    max_tokens: int | None = Field(None, ge=1, le=32768, description="Capped by the server's --max-tokens.")
    # Left out: the model's recommended sampling (SmolLM2: 0.2 and 0.9), as Ollama does, not OpenAI's 1.0.
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int = Field(1, ge=1, le=128, description="Capped by the server's --max-n.")
    stop: Stop = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    presence_penalty: float = Field(0.0, ge=-2, le=2, description="Accepted; not used by llmkit's engines.")
    frequency_penalty: float = Field(0.0, ge=-2, le=2, description="Accepted; not used by llmkit's engines.")
    user: Annotated[str, Field(max_length=256)] | None = Field(
        None, description="Accepted; queueing is fair per API key (or client address), not per user.")


class ChatCompletionRequest(_Sampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=4096)]
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20, description="With logprobs: the N likeliest tokens at each "
                                     "step (llama.cpp and torch engines).")
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = Field(
        None, description="Function tools; the model's chat template must render tools (else a 400).")
    tool_choice: Union[Literal["auto", "none", "required"], dict[str, Any], None] = Field(
        None, description="auto (default), none, required, or {\"type\": \"function\", \"function\": {\"name\": ...}}; "
                          "required and a named function are constrained to a well-formed call.")


class CompletionRequest(_Sampling):
    prompt: Union[Text, Annotated[list[Text], Field(min_length=1, max_length=64)]]
    max_tokens: int | None = Field(16, ge=1, le=32768, description="Capped by the server's --max-tokens.")
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=5)


class EmbeddingRequest(_Body):
    input: Union[Text, Annotated[list[Text], Field(min_length=1, max_length=MAX_LIST)]]
    model: Annotated[str, Field(max_length=1024)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, le=65536)
    user: Annotated[str, Field(max_length=256)] | None = None


class ClassificationRequest(_Body):
    """llmkit's own: texts in, labels with scores out."""

    input: Union[Text, Annotated[list[Text], Field(min_length=1, max_length=MAX_LIST)]] = Field(
        ..., examples=[["I love this coffee", "Stale and bitter"]])
    model: Annotated[str, Field(max_length=1024)] | None = Field(
        None, description=f"A classification model; default {get('text-classification').default_model}.")
    task: Annotated[str, Field(max_length=256)] | None = Field(  # named task for clients; it picks a head
        None, description="Which head of a multi-task model folder (default: its default head).")
    top_k: int | None = Field(1, ge=1, le=10000, description="Labels per input, best first; null for all.")
    explain: bool = Field(False, description="Add word attributions for the best label (integrated gradients on "
                          "torch; slow: about a second per text on a CPU).")
    user: Annotated[str, Field(max_length=256)] | None = None


class LabelScore(BaseModel):
    label: str
    score: float


class WordScore(BaseModel):
    word: str
    score: float


class Classification(BaseModel):
    object: Literal["classification"] = "classification"
    index: int
    label: str = Field(description="The best label.")
    score: float
    labels: list[LabelScore] = Field(description="The top_k labels, best first.")
    attributions: list[WordScore] | None = Field(None, description="With explain: each word's share of the best "
                                                 "label's logit (positive: towards it), in text order.")
    attribution_delta: float | None = Field(None, description="With explain: sum of the scores minus the logit "
                                            "difference from the baseline (completeness; near 0).")


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class ClassificationResponse(BaseModel):
    object: Literal["list"] = "list"
    model: str
    task: str = Field(description="The head that answered.")
    data: list[Classification]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "llmkit"
    task: str | None = None
    loaded: bool = False


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
