"""One draft of an answer being checked, and what came of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.generation.answers import FallbackReason
from bot.generation.grounding import SentenceSupport
from bot.generation.types import ChatMessage

# A draft stopped for these, before anything was shown, gets another try that opens otherwise:
# a small model often starts on the wrong foot ("I'm sorry, I don't have...", a wrong "Yes.")
# and then holds to it, while its second choice of opening leads to the answer.
REDRAFT_REASONS = frozenset(
    {FallbackReason.UNSUPPORTED, FallbackReason.OFF_TOPIC, FallbackReason.DECLINED}
)


@dataclass
class Draft:
    """One draft being checked, and what came of it."""

    messages: Sequence[ChatMessage]
    question: str
    texts: Sequence[str]  # the passages' grounding texts
    must_answer: bool  # the passages answer plainly: a decline is not accepted
    headings: tuple[str, ...] = ()  # the passages' heading lines, which answer nothing
    may_start: bool = False  # a passage is close enough for a draft started with its words
    avoid: tuple[str, ...] = ()  # openings of rejected drafts this one must not repeat
    given: str = ""  # the first words this draft is started with (a started draft)
    opening: str = ""  # this draft's first sentence
    accepted: list[SentenceSupport] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # reply words waiting for their claim
    shown: str = ""
    reason: FallbackReason | None = None

    def again(self) -> Draft:
        """A fresh draft of the same prompt that must not open the way this one (or one
        before it) did."""
        return self.started_with("")

    def started_with(self, words: str) -> Draft:
        """A fresh draft of the same prompt that starts with ``words`` (none: as the model
        chooses, but not the way this draft or one before it did)."""
        return Draft(
            self.messages,
            self.question,
            self.texts,
            self.must_answer,
            self.headings,
            self.may_start,
            avoid=(*self.avoid, self.opening),
            given=words,
        )
