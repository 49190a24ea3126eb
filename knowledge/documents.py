"""The value types that flow through the knowledge package."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One knowledge-base article as loaded from its source file."""

    id: str
    title: str
    text: str
    language: str = "en"
    tags: tuple[str, ...] = ()
    url: str | None = None
    source: str | None = None

    @property
    def checksum(self) -> str:
        """Content hash used to skip unchanged documents on rebuild."""
        payload = "\x1f".join(
            [self.id, self.title, self.text, self.language, ",".join(self.tags), self.url or ""]
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a document, carrying where it came from."""

    id: int
    document_id: str
    title: str
    section: str
    text: str
    language: str = "en"
    url: str | None = None

    @property
    def embedding_text(self) -> str:
        # Titles and headings carry much of the meaning of short support articles,
        # so they are embedded together with the passage text.
        heading = f"{self.title} - {self.section}" if self.section else self.title
        return f"{heading}\n{self.text}"


@dataclass(frozen=True)
class Passage:
    """A chunk returned for a query, with its relevance score (higher is better).

    ``score`` is on the cosine-similarity scale for every retriever, so one threshold and one
    intent boost fit them all: the dense cosine, the normalised BM25 share, or for hybrid
    retrieval the cosine plus a bounded lexical bonus. ``dense`` and ``lexical`` keep the
    components where they were computed, for display and calibration.
    """

    chunk: Chunk
    score: float
    rank: int = field(default=0)
    dense: float | None = None
    lexical: float | None = None
