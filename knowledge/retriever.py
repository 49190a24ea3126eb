"""Retrievers turn a question into ranked passages; the dialogue manager only sees the Protocol."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from knowledge.documents import Passage
from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError
from knowledge.store import KnowledgeStore


class Retriever(Protocol):
    def run(self, query: str, top_k: int = 5, *, language: str | None = None) -> list[Passage]:
        """Passages for ``query``, best first; ``language`` may narrow the search to it."""
        ...


class DenseRetriever:
    """Cosine similarity between the query embedding and the chunk (and title) vectors."""

    def __init__(self, store: KnowledgeStore, embedder: Embedder) -> None:
        check_embedder(store, embedder)
        self.store = store
        self.embedder = embedder

    def run(self, query: str, top_k: int = 5, *, language: str | None = None) -> list[Passage]:
        if not query.strip():
            return []
        vector = self.embedder.encode([query])[0]
        hits = self.store.search(vector, top_k)
        return [
            Passage(chunk=chunk, score=score, rank=rank, dense=score)
            for rank, (chunk, score) in enumerate(hits)
        ]


def check_embedder(store: KnowledgeStore, embedder: Embedder) -> None:
    if store.embedder_name != embedder.name:
        raise KnowledgeError(
            f"the store was built with {store.embedder_name!r}, the embedder is {embedder.name!r}"
        )


def rerank_with_prior(
    passages: list[Passage], prior: dict[str, float], weight: float
) -> list[Passage]:
    """Add ``weight * prior[document]`` to each passage's score and sort again.

    The prior carries outside evidence about which documents fit (for example the
    predicted intent's linked articles); documents without a prior keep their score.
    """
    boosted = [
        replace(p, score=p.score + weight * prior.get(p.chunk.document_id, 0.0)) for p in passages
    ]
    boosted.sort(key=lambda p: p.score, reverse=True)
    return [replace(p, rank=rank) for rank, p in enumerate(boosted)]


def rank_documents(passages: list[Passage]) -> list[str]:
    """Document ids in the order their best passage appears (one entry per document)."""
    ranked: list[str] = []
    for passage in passages:
        if passage.chunk.document_id not in ranked:
            ranked.append(passage.chunk.document_id)
    return ranked
