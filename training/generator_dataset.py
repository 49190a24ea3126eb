"""The default generator training set: demo questions, the passages the retriever finds for
them in the tenant's KB index, and the written grounded answers (JSONL, see generator_data).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.generation.grounding import GroundingChecker
from bot.generation.prompt import PromptPassage
from bot.generation.types import ChatMessage
from knowledge.analyzer import analyzer
from knowledge.documents import Passage
from knowledge.retriever import Retriever
from training.generator_data import GeneratorItem, TrainingExample


def search_text(item: GeneratorItem) -> str:
    """What the dialogue searches with: a follow-up is read with the previous user message."""
    previous = next((m.content for m in reversed(item.history) if m.role == "user"), None)
    return f"{previous}\n{item.question}" if previous else item.question


def passages_for(item: GeneratorItem, retriever: Retriever, top_k: int = 3) -> list[Passage]:
    """The top passages for ``item``; for an answerable one, the passage its answer rests on.

    Of the article the answer was written from, the retrieved passage that holds most of
    the answer's words is made sure of (it takes the last place when missing). The model
    must learn, and be judged on, answering from what it is shown: a training answer whose
    facts sit in a passage it was not shown teaches it to invent them.
    """
    found = retriever.run(search_text(item), max(top_k, 20))
    top = found[:top_k]
    gold = [p for p in found if p.chunk.document_id == item.article] if item.article else []
    if gold:
        analyze = analyzer("en")
        answer_words = set(analyze(item.answer))
        best = max(gold, key=lambda p: len(answer_words & set(analyze(_shown_text(p)))))
        if best not in top:
            top = [*top[: top_k - 1], best]
    return top


def _shown_text(passage: Passage) -> str:
    return f"{passage.chunk.section}\n{passage.chunk.text}"


def build_examples(
    items: Iterable[GeneratorItem], retriever: Retriever, top_k: int = 3
) -> list[TrainingExample]:
    examples = []
    for item in items:
        passages = passages_for(item, retriever, top_k)
        examples.append(
            TrainingExample(
                messages=(*item.history, _user(item.question)),
                passages=tuple(PromptPassage.of(p.chunk) for p in passages),
                answer=item.answer,
                document_ids=tuple(p.chunk.document_id for p in passages),
            )
        )
    return examples


def split_by_grounding(
    examples: Iterable[TrainingExample], checker: GroundingChecker
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(examples whose answer passes the grounding check against the passages shown with
    it, the others). Serving replaces an unsupported draft, so training on an answer the
    check rejects teaches the model a draft that will never be shown, or to add facts the
    passages lack."""
    kept, dropped = [], []
    for example in examples:
        report = checker.check(example.answer, [p.grounding_text() for p in example.passages])
        (kept if report.supported else dropped).append(example)
    return kept, dropped


def _user(text: str) -> ChatMessage:
    return ChatMessage("user", text)


def default_items_path(tenant_dir: Path) -> Path:
    return tenant_dir / "generator" / "train.yml"
