"""Per-language sub-indexes: search the question's language only, or everything if unknown.

A support base in several languages answers a German question from German articles; an
English passage that happens to share a product name is not an answer to it. Each
sub-index also gets the stemmer and stop words of its language for BM25.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from knowledge.documents import Passage
from knowledge.retriever import Retriever
from knowledge.store import KnowledgeStore


class LanguageRouter:
    """Sends each question to its language's retriever; other languages go to ``fallback``."""

    def __init__(self, by_language: Mapping[str, Retriever], fallback: Retriever) -> None:
        self.by_language = dict(by_language)
        self.fallback = fallback

    @classmethod
    def from_store(
        cls, store: KnowledgeStore, make: Callable[[KnowledgeStore], Retriever]
    ) -> LanguageRouter:
        """One sub-index per chunk language in ``store`` (vectors are reused, not re-embedded)."""
        languages = sorted({chunk.language for chunk in store.chunks.values()})
        by_language = {
            language: make(
                store.subset(lambda chunk, language=language: chunk.language == language)
            )
            for language in languages
        }
        return cls(by_language, make(store))

    def run(self, query: str, top_k: int = 5, *, language: str | None = None) -> list[Passage]:
        retriever = self.by_language.get(language or "", self.fallback)
        return retriever.run(query, top_k, language=language)
