"""Split documents into heading-delimited chunks, windowing long sections by paragraph."""

from __future__ import annotations

import hashlib
import re

from knowledge.documents import Chunk, Document

# A closing run of '#' counts only after a space (CommonMark), so "C#" keeps its hash.
HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")


def chunk_id(document_id: str, position: int) -> int:
    """A stable, positive 63-bit id for the ``position``-th chunk of a document."""
    digest = hashlib.blake2b(f"{document_id}#{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def split_sections(text: str) -> list[tuple[str, str]]:
    """Return ``(heading, body)`` pairs; text before the first heading has an empty heading."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            sections.append((match.group(2), []))
        else:
            sections[-1][1].append(line)
    return [(head, "\n".join(body).strip()) for head, body in sections if "\n".join(body).strip()]


def window_paragraphs(body: str, max_chars: int) -> list[str]:
    """Group paragraphs into windows of at most ``max_chars`` (a longer paragraph stands alone)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    windows: list[str] = []
    current: list[str] = []
    for paragraph in paragraphs:
        if current and len("\n\n".join([*current, paragraph])) > max_chars:
            windows.append("\n\n".join(current))
            # Overlap: the last paragraph of a window opens the next one when both fit,
            # so an answer that straddles the boundary is still found in one piece.
            overlap = current[-1]
            fits = len(overlap) + 2 + len(paragraph) <= max_chars
            current = [overlap] if fits else []
        current.append(paragraph)
    if current:
        windows.append("\n\n".join(current))
    return windows


def chunk_document(document: Document, max_chars: int = 1200) -> list[Chunk]:
    """Chunks of ``document`` in reading order, each keeping its id, title, section and language."""
    chunks: list[Chunk] = []
    for heading, body in split_sections(document.text):
        for window in window_paragraphs(body, max_chars):
            chunks.append(
                Chunk(
                    id=chunk_id(document.id, len(chunks)),
                    document_id=document.id,
                    title=document.title,
                    section=heading,
                    text=window,
                    language=document.language,
                    url=document.url,
                )
            )
    return chunks
