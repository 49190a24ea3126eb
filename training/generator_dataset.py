"""The default generator training set: demo questions, the passages the retriever finds for
them in the tenant's KB index, and the written grounded answers (JSONL, see generator_data).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.generation.prompt import PromptPassage
from bot.generation.types import ChatMessage
from knowledge.documents import Passage
from knowledge.retriever import Retriever
from training.generator_data import GeneratorItem, TrainingExample


def search_text(item: GeneratorItem) -> str:
    """What the dialogue searches with: a follow-up is read with the previous user message."""
    previous = next((m.content for m in reversed(item.history) if m.role == "user"), None)
    return f"{previous}\n{item.question}" if previous else item.question


def passages_for(item: GeneratorItem, retriever: Retriever, top_k: int = 3) -> list[Passage]:
    """The top passages for ``item``; for an answerable one, its article is made sure of.

    When retrieval misses the article an answer was written from, its best passage takes
    the last place: the model must learn to answer from what it is shown, never to invent
    an answer its passages do not hold.
    """
    found = retriever.run(search_text(item), max(top_k, 20))
    top = found[:top_k]
    if item.article and all(p.chunk.document_id != item.article for p in top):
        gold = next((p for p in found if p.chunk.document_id == item.article), None)
        if gold is not None:
            top = [*top[: top_k - 1], gold]
    return top


def build_examples(
    items: Iterable[GeneratorItem], retriever: Retriever, top_k: int = 3
) -> list[TrainingExample]:
    examples = []
    for item in items:
        passages = passages_for(item, retriever, top_k)
        examples.append(
            TrainingExample(
                messages=(*item.history, _user(item.question)),
                passages=tuple(
                    PromptPassage(p.chunk.title, p.chunk.text, p.chunk.section) for p in passages
                ),
                answer=item.answer,
                document_ids=tuple(p.chunk.document_id for p in passages),
            )
        )
    return examples


def _user(text: str) -> ChatMessage:
    return ChatMessage("user", text)


def default_items_path(tenant_dir: Path) -> Path:
    return tenant_dir / "generator" / "train.yml"
