"""Request bodies of Anthropic's Messages API (``/v1/messages``, ``/v1/messages/count_tokens``), every field
bounded like the OpenAI ones in ``schemas.py``. Unknown fields are ignored (newer SDKs send more); fields llmkit
cannot honour (images, documents, thinking) are refused with a 400 rather than dropped silently.

https://docs.anthropic.com/en/api/messages
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .schemas import MAX_TEXT, Text

Name = Annotated[str, Field(max_length=1024)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextBlock(_Body):
    type: Literal["text"]
    text: Text


class ToolUseBlock(_Body):
    type: Literal["tool_use"]
    id: Annotated[str, Field(max_length=256)]
    name: Annotated[str, Field(max_length=256)]
    input: dict[str, Any]


class ToolResultBlock(_Body):
    type: Literal["tool_result"]
    tool_use_id: Annotated[str, Field(max_length=256)]
    content: Union[Text, Annotated[list[TextBlock], Field(max_length=256)]] = ""
    is_error: bool = False

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(b.text for b in self.content)


class OtherBlock(_Body):
    """Any other block (image, document...): parsed so the error can say plainly that it is not supported."""

    type: Annotated[str, Field(max_length=64)]

    @field_validator("type")
    @classmethod
    def _unknown(cls, value: str) -> str:
        if value in KNOWN:  # a known block with wrong fields: its own model's error is the one to report
            raise ValueError(f"a {value} block with missing or wrong fields")
        return value


KNOWN = ("text", "tool_use", "tool_result")
Block = Union[TextBlock, ToolUseBlock, ToolResultBlock, OtherBlock]  # pydantic picks the exact match


class Message(_Body):
    role: Literal["user", "assistant"]
    content: Union[Text, Annotated[list[Block], Field(min_length=1, max_length=256)]]

    def blocks(self) -> list[Any]:
        return [TextBlock(type="text", text=self.content)] if isinstance(self.content, str) else list(self.content)


class Tool(_Body):
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9_-]+$")]
    description: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    input_schema: dict[str, Any]


class ToolChoice(_Body):
    type: Literal["auto", "any", "tool", "none"]
    name: Annotated[str, Field(max_length=128)] | None = None


class _Prompt(_Body):
    model: Name
    messages: Annotated[list[Message], Field(min_length=1, max_length=4096)]
    system: Union[Text, Annotated[list[TextBlock], Field(max_length=256)], None] = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_choice: ToolChoice | None = None

    def system_text(self) -> str | None:
        if self.system is None or isinstance(self.system, str):
            return self.system or None
        return "\n\n".join(b.text for b in self.system) or None


class MessagesRequest(_Prompt):
    max_tokens: int = Field(..., ge=1, le=32768, description="Required, as in Anthropic's API; capped by the "
                                                             "server's --max-tokens.")
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, le=1_000_000)
    stop_sequences: Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]],
                              Field(max_length=16)] | None = None
    stream: bool = False
    metadata: dict[str, Any] | None = Field(None, description="Accepted; not used.")


class CountTokensRequest(_Prompt):
    pass
