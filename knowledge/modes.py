"""Pick a retriever by name: the one switch the settings, the CLI and the benchmarks share."""

from __future__ import annotations

from knowledge.embedder import Embedder
from knowledge.hybrid import HybridRetriever, LexicalRetriever
from knowledge.options import RetrievalMode
from knowledge.retriever import DenseRetriever, Retriever
from knowledge.store import KnowledgeStore

__all__ = ["RetrievalMode", "make_retriever"]


def make_retriever(
    store: KnowledgeStore, embedder: Embedder, mode: RetrievalMode | str = RetrievalMode.HYBRID
) -> Retriever:
    chosen = RetrievalMode(mode)
    if chosen is RetrievalMode.DENSE:
        return DenseRetriever(store, embedder)
    if chosen is RetrievalMode.BM25:
        return LexicalRetriever(store)
    return HybridRetriever(store, embedder)
