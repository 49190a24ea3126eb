"""The generator family's interface: chat messages in, an async stream of text deltas out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from bot.errors import SupportbotError

Role = Literal["system", "user", "assistant"]


class GenerationError(SupportbotError, RuntimeError):
    """The generator backend failed to produce a draft (bad response, crash, refused request)."""


class GenerationTimeout(GenerationError, TimeoutError):
    """The backend did not answer, or stalled, within the configured time."""


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@runtime_checkable
class Generator(Protocol):
    """A chat model that streams its answer.

    Implementations validate their arguments in ``__init__`` and load models or open
    clients in :meth:`warm_up`; :meth:`stream` may call ``warm_up`` itself on first use.
    """

    name: str
    max_new_tokens: int

    def warm_up(self) -> None: ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's prompt (an estimate where no tokenizer is at hand)."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """Text deltas of a greedy answer to ``messages``; closing the iterator stops the model."""
        ...


@runtime_checkable
class SteerableGenerator(Generator, Protocol):
    """A generator that can write another draft which does not open the way a rejected one
    did, or which starts with given words.

    Greedy decoding writes the same draft every time; once its opening is kept from being
    chosen, the model writes the best draft that starts otherwise ("Yes." instead of "I'm
    sorry, I don't have..."). In-process backends ban the opening's first token, and start a
    draft by appending the given words' tokens to the prompt; a remote endpoint cannot be
    told either without its tokenizer, so it is not steerable.
    """

    def stream_avoiding(
        self,
        messages: Sequence[ChatMessage],
        openings: Sequence[str],
        *,
        max_new_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        """Like ``stream``, but the draft does not start with the first token of any of
        ``openings``."""
        ...

    def stream_from(
        self, messages: Sequence[ChatMessage], opening: str, *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """Like ``stream``, but the draft starts with ``opening`` (streamed first) and the
        model goes on from there."""
        ...


async def complete_text(
    generator: Generator, messages: Sequence[ChatMessage], *, max_new_tokens: int | None = None
) -> str:
    """The whole answer as one string (for evaluation and scripts; serving streams)."""
    parts = [part async for part in generator.stream(messages, max_new_tokens=max_new_tokens)]
    return "".join(parts)
