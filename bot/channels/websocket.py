"""The chat widget's channel: JSON frames over a WebSocket at ``/ws/chat``.

Every bad frame is answered with an error frame and the connection stays open; only the
client closing it, or the server shutting down, ends a conversation.
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from bot.dialogue import BotReply, DialogueManager, ReplyDelta
from bot.errors import InputError
from bot.metrics import Metrics
from bot.protocol import (
    PROTOCOL_VERSION,
    STREAMING_PROTOCOL_VERSION,
    SUPPORTED_PROTOCOLS,
    ErrorCode,
    ErrorFrame,
    IntentOut,
    ReplyDeltaFrame,
    ReplyFrame,
    SourceOut,
    UserMessage,
    WelcomeFrame,
)

logger = logging.getLogger(__name__)


def reply_frame(reply: BotReply, reply_to: str | None) -> ReplyFrame:
    return ReplyFrame(
        reply_to=reply_to,
        text=reply.text,
        action=reply.action.value,
        language=reply.language,
        intent=IntentOut(name=reply.intent.name, confidence=reply.intent.confidence)
        if reply.intent
        else None,
        alternatives=[IntentOut(name=a.name, confidence=a.confidence) for a in reply.alternatives],
        sources=[
            SourceOut(id=s.document_id, title=s.title, section=s.section, url=s.url, score=s.score)
            for s in reply.sources
        ],
        truncated=reply.truncated,
        generated=reply.generated,
    )


class ChatConnection:
    """One widget connection: parses frames, runs turns, and answers every frame it gets."""

    def __init__(
        self, websocket: WebSocket, dialogue: DialogueManager, metrics: Metrics, max_chars: int
    ) -> None:
        self.websocket = websocket
        self.dialogue = dialogue
        self.metrics = metrics
        self.max_chars = max_chars
        # A frame carries the text JSON-escaped, so allow for escaping before calling it too large.
        self.max_frame_chars = max_chars * 6 + 1024
        self.protocol = PROTOCOL_VERSION

    async def run(self) -> None:
        await self.websocket.accept()
        asked = self.websocket.query_params.get("protocol", str(PROTOCOL_VERSION))
        if not asked.isdigit() or int(asked) not in SUPPORTED_PROTOCOLS:
            await self._error(
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"protocol {asked!r} is not supported; use one of {list(SUPPORTED_PROTOCOLS)}",
            )
            await self.websocket.close(code=1008)
            return
        self.protocol = int(asked)
        session = self.dialogue.open_session(self.websocket.query_params.get("session"))
        await self._send(
            WelcomeFrame(session_id=session.id, protocol=self.protocol).model_dump_json()
        )
        self.metrics.connections.inc()
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await self._on_frame(session, message.get("text"), message.get("bytes"))
        except WebSocketDisconnect:
            return
        finally:
            self.metrics.connections.dec()

    async def _on_frame(self, session: object, text: str | None, data: bytes | None) -> None:
        if text is None:
            await self._error(
                ErrorCode.UNSUPPORTED_FRAME, "binary frames are not supported; send JSON text"
            )
            return
        if len(text) > self.max_frame_chars:
            await self._error(
                ErrorCode.TOO_LARGE, f"frame of {len(text)} characters is over the limit"
            )
            return
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            await self._error(
                ErrorCode.INVALID_JSON, f"frame is not valid JSON: {exc.msg} at position {exc.pos}"
            )
            return
        try:
            frame = UserMessage.model_validate(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'frame'}: {e['msg']}" for e in exc.errors()
            )
            await self._error(
                ErrorCode.INVALID_FRAME, f"expected {{type: 'message', text, id?}}: {problems}"
            )
            return
        reply_to = frame.id
        if not frame.text.strip():
            await self._error(ErrorCode.EMPTY_TEXT, "the message text is empty", reply_to)
            return
        if len(frame.text) > self.max_chars:
            await self._error(
                ErrorCode.TOO_LARGE,
                f"message of {len(frame.text)} characters; the limit is {self.max_chars}",
                reply_to,
            )
            return
        started = time.perf_counter()
        try:
            reply = await self._answer(session, frame.text, reply_to)
        except InputError as exc:
            await self._error(ErrorCode.INVALID_FRAME, str(exc), reply_to)
            return
        except Exception:
            logger.exception("turn failed")
            await self._error(
                ErrorCode.INTERNAL,
                "the bot could not answer this message; please try again",
                reply_to,
            )
            return
        self.metrics.turn_seconds.observe(time.perf_counter() - started)
        self.metrics.turns.labels(action=reply.action.value).inc()
        if reply.fallback:
            self.metrics.generator_fallbacks.labels(reason=reply.fallback).inc()
        elif reply.generated:
            self.metrics.generated_answers.inc()
            if reply.redrafted:
                self.metrics.generator_redrafts.inc()
        await self._send(reply_frame(reply, reply_to).model_dump_json())

    async def _answer(self, session: object, text: str, reply_to: str | None) -> BotReply:
        """Run the turn; protocol-2 clients get each checked piece of a generated answer."""
        index = 0
        async for event in self.dialogue.stream(session, text):  # type: ignore[arg-type]
            if isinstance(event, ReplyDelta):
                if self.protocol >= STREAMING_PROTOCOL_VERSION:
                    frame = ReplyDeltaFrame(reply_to=reply_to, index=index, text=event.text)
                    await self._send(frame.model_dump_json())
                index += 1
            else:
                return event
        raise RuntimeError("the dialogue ended a turn without a reply")  # pragma: no cover

    async def _error(self, code: ErrorCode, message: str, reply_to: str | None = None) -> None:
        self.metrics.errors.labels(code=code.value).inc()
        await self._send(
            ErrorFrame(code=code, message=message, reply_to=reply_to).model_dump_json()
        )

    async def _send(self, text: str) -> None:
        await self.websocket.send_text(text)


def websocket_router() -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws/chat")
    async def chat(websocket: WebSocket) -> None:
        runtime = websocket.app.state.runtime
        connection = ChatConnection(
            websocket,
            runtime.dialogue,
            websocket.app.state.metrics,
            runtime.settings.max_message_chars,
        )
        await connection.run()

    return router
