"""A Generator that plays back a script: for answerer, dialogue and prompt-injection tests.

It implements the family's Protocol the way a compromised or broken model would behave
when told to (recite its prompt, invent facts, stall, fail), which a real small model does
not do on cue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from bot.generation.remote import estimate_tokens
from bot.generation.types import ChatMessage, GenerationError


@dataclass
class ScriptedGenerator:
    reply: str | Callable[[Sequence[ChatMessage]], str] = "Hello."
    chunk_words: int = 2
    delay_first_s: float = 0.0
    fail: bool = False
    name: str = "scripted"
    max_new_tokens: int = 128
    prompts: list[tuple[ChatMessage, ...]] = field(default_factory=list)
    closed: int = 0  # streams closed before their end (the answerer stopped the model)

    def warm_up(self) -> None:
        return None

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        self.prompts.append(tuple(messages))
        await asyncio.sleep(self.delay_first_s)
        if self.fail:
            raise GenerationError("the scripted model crashed")
        text = self.reply(messages) if callable(self.reply) else self.reply
        words = text.split(" ")
        finished = False
        try:
            for start in range(0, len(words), self.chunk_words):
                piece = " ".join(words[start : start + self.chunk_words])
                yield piece if start == 0 else " " + piece
                await asyncio.sleep(0)
            finished = True
        finally:
            if not finished:
                self.closed += 1


@dataclass
class SteerableScripted(ScriptedGenerator):
    """Writes ``reply`` first and then, told to avoid openings, each of ``later`` in turn
    (the last one again once they run out); started with an opening, it goes on with
    ``continued``."""

    later: tuple[str, ...] = ()
    openings: list[tuple[str, ...]] = field(default_factory=list)  # avoided, per call
    continued: str = ""  # what follows an opening it is started with
    started: list[str] = field(default_factory=list)  # the openings it was started with

    def stream_avoiding(
        self,
        messages: Sequence[ChatMessage],
        openings: Sequence[str],
        *,
        max_new_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        self.openings.append(tuple(openings))
        text = self.later[min(len(self.openings), len(self.later)) - 1]
        return ScriptedGenerator(text).stream(messages)

    def stream_from(
        self, messages: Sequence[ChatMessage], opening: str, *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """``opening`` and then ``continued``."""
        self.started.append(opening)
        return ScriptedGenerator(f"{opening} {self.continued}".strip()).stream(messages)
