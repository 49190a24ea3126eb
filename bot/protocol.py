"""WebSocket frames (protocol versions 1 and 2), validated with pydantic; see docs/protocol.md."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Version 1: one `reply` frame per message. Version 2 (asked for with ``?protocol=2``) adds
# `reply_delta` frames that stream a generated answer before its `reply`.
PROTOCOL_VERSION = 1
STREAMING_PROTOCOL_VERSION = 2
SUPPORTED_PROTOCOLS = (PROTOCOL_VERSION, STREAMING_PROTOCOL_VERSION)


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNSUPPORTED_FRAME = "unsupported_frame"
    TOO_LARGE = "too_large"
    EMPTY_TEXT = "empty_text"
    INTERNAL = "internal_error"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"


class UserMessage(BaseModel):
    """Client -> server: one user message; ``id`` is chosen by the client and echoed back."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["message"]
    text: str
    id: str | None = Field(default=None, max_length=128)


class IntentOut(BaseModel):
    name: str
    confidence: float


class SourceOut(BaseModel):
    id: str
    title: str
    section: str
    url: str | None
    score: float


class WelcomeFrame(BaseModel):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    session_id: str


class ReplyFrame(BaseModel):
    type: Literal["reply"] = "reply"
    reply_to: str | None
    text: str
    action: str
    language: str
    intent: IntentOut | None
    alternatives: list[IntentOut]
    sources: list[SourceOut]
    truncated: bool = False
    generated: bool = False


class ReplyDeltaFrame(BaseModel):
    """Protocol 2: the next piece of a generated answer; append ``text`` to the reply so far."""

    type: Literal["reply_delta"] = "reply_delta"
    reply_to: str | None
    index: int
    text: str


class ErrorFrame(BaseModel):
    type: Literal["error"] = "error"
    reply_to: str | None = None
    code: ErrorCode
    message: str
