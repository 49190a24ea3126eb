"""The answer-quality evaluation counts what the answerer did with each held-out question."""

from __future__ import annotations

from collections.abc import Sequence

from bot.generation.answerer import GroundedAnswerer
from bot.generation.grounding import GroundingChecker
from bot.generation.prompt import PromptBuilder
from bot.generation.types import ChatMessage
from knowledge.documents import Chunk, Passage
from knowledge.embedder import Embedder
from tests.scripted_generator import SteerableScripted
from training.generator_data import GeneratorItem
from training.generator_eval import evaluate_answers

RETURNS = Chunk(
    0,
    "returns",
    "Returns policy",
    "Returns",
    "You can return most items within 30 days of delivery. Items must be unused and in their "
    "original packaging.",
)


class OnePassage:
    def run(self, query: str, top_k: int = 5, *, language: str | None = None) -> list[Passage]:
        return [Passage(RETURNS, 0.9)]


def reply(messages: Sequence[ChatMessage]) -> str:
    if "gift cards" in messages[-1].content:
        return "I'm sorry, I don't have information about gift cards."
    return "I'm sorry, I don't have information about returns."  # where the passage answers


def test_rates_count_grounded_redrafted_started_and_declined_answers(embedder: Embedder) -> None:
    generator = SteerableScripted(
        reply,
        later=("You can return items within 90 days and get a 50% refund.",),
        continued="items within 30 days of delivery.",
    )
    answerer = GroundedAnswerer(
        generator, PromptBuilder(generator.count_tokens), GroundingChecker(embedder)
    )
    items = [
        GeneratorItem(
            "can I return most items within 30 days of delivery?",
            "Yes, most items can be returned within 30 days of delivery.",
            article="returns",
        ),
        GeneratorItem("do you sell gift cards?", "I don't have information about gift cards."),
    ]
    result = evaluate_answers(items, OnePassage(), answerer)
    assert result["items"] == 2 and result["grounded_rate"] == 1.0
    assert result["fallback_rate"] == 0.0
    assert result["redrafted_rate"] == 0.5 and result["started_rate"] == 0.5
    assert result["unanswerable_declined_rate"] == 1.0
    assert 0.0 < result["rouge_l"] < 1.0  # type: ignore[operator]
    assert generator.started == ["You can return most"]
