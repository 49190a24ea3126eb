"""Decide what the bot does with a classified message, before any text is produced."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.intents import IntentPrediction
from bot.tenant import IntentKind, TenantIntents


class Action(StrEnum):
    SMALLTALK = "smalltalk"
    ANSWER = "answer"
    HANDOFF = "handoff"
    NO_ANSWER = "no_answer"
    CLARIFY = "clarify"
    UNSUPPORTED_LANGUAGE = "unsupported_language"


@dataclass(frozen=True)
class PolicyConfig:
    supported_languages: tuple[str, ...] = ("en",)
    # None: trust the intent model's own calibrated out-of-scope threshold.
    intent_threshold: float | None = None
    retrieval_min_score: float = 0.35
    intent_article_boost: float = 0.25


@dataclass(frozen=True)
class Decision:
    action: Action
    # True when the knowledge base should be searched; the final action may still become
    # NO_ANSWER if no passage is good enough.
    needs_retrieval: bool = False


def decide(
    language: str, prediction: IntentPrediction, tenant: TenantIntents, config: PolicyConfig
) -> Decision:
    if language not in config.supported_languages:
        # Never guess in a language the tenant does not serve: say so and offer a human.
        return Decision(Action.UNSUPPORTED_LANGUAGE)
    top = prediction.top
    if not is_uncertain(prediction, config):
        kind = tenant.kind_of(top.name)
        if kind is IntentKind.SMALLTALK:
            return Decision(Action.SMALLTALK)
        if kind is IntentKind.HANDOFF:
            return Decision(Action.HANDOFF)
    # A knowledge intent, or an uncertain one: the knowledge base may still hold the answer.
    return Decision(Action.ANSWER, needs_retrieval=True)


def is_uncertain(prediction: IntentPrediction, config: PolicyConfig) -> bool:
    """True when no known intent fits well enough to act on it."""
    if config.intent_threshold is None:
        return prediction.out_of_scope
    return prediction.top.confidence < config.intent_threshold


def is_unclear(prediction: IntentPrediction, config: PolicyConfig) -> bool:
    """True when the top intent is more likely wrong than right (or out of scope).

    Confidences are calibrated, so 0.5 means what it says; such a message is worth
    reading together with the previous one.
    """
    return is_uncertain(prediction, config) or prediction.top.confidence < 0.5
