"""What a grounded answer gives its listener: checked pieces as they pass, then the final
answer with the passages it rests on, or the extractive fallback and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FallbackReason(StrEnum):
    UNSUPPORTED = "unsupported"  # a draft sentence is not backed by the passages, or no draft
    OFF_TOPIC = "off_topic"  # backed by the passages, but not an answer to the question
    DECLINED = "declined"  # "I don't have that information" where the passages answer plainly
    TIMEOUT = "timeout"  # the backend did not start or went quiet in time
    ERROR = "error"  # the backend failed


@dataclass(frozen=True)
class AnswerDelta:
    text: str  # the next checked piece; the pieces joined are the final text


@dataclass(frozen=True)
class FinalAnswer:
    text: str
    generated: bool  # False: the extractive fallback
    passages: tuple[int, ...]  # indices of the passages the answer rests on, best first
    declined: bool = False  # the model said it does not know (and offered a person)
    fallback: FallbackReason | None = None
    redrafted: bool = False  # the first draft was rejected before anything was shown
    started_with: str = ""  # the passage words a last draft was started with, if it was
