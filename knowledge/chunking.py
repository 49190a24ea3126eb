"""Split documents into heading-delimited chunks: paragraph windows, sentence windows inside long paragraphs."""

from __future__ import annotations

import hashlib
import re

from knowledge.documents import Chunk, Document

# A closing run of '#' counts only after a space (CommonMark), so "C#" keeps its hash.
HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


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


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of ``paragraph``: a split after ., ! or ? followed by space and a capital or digit.

    Deliberately simple (no abbreviation list): a wrong split only moves a window boundary,
    and the one-sentence overlap keeps both halves of an answer together.
    """
    return [s.strip() for s in SENTENCE_END.split(paragraph.strip()) if s.strip()]


def window_units(units: list[str], max_chars: int, joiner: str) -> list[str]:
    """Group ``units`` into windows of at most ``max_chars``; a longer unit stands alone.

    Overlap: the last unit of a window opens the next one when both fit, so an answer that
    straddles the boundary is still found in one piece.
    """
    windows: list[str] = []
    current: list[str] = []
    for unit in units:
        if current and len(joiner.join([*current, unit])) > max_chars:
            windows.append(joiner.join(current))
            overlap = current[-1]
            fits = len(overlap) + len(joiner) + len(unit) <= max_chars
            current = [overlap] if fits else []
        current.append(unit)
    if current:
        windows.append(joiner.join(current))
    return windows


def window_paragraphs(body: str, max_chars: int) -> list[str]:
    """Windows of whole paragraphs; a paragraph longer than ``max_chars`` becomes sentence windows."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    units: list[str] = []
    for paragraph in paragraphs:
        if len(paragraph) > max_chars:
            units.extend(window_units(split_sentences(paragraph), max_chars, " "))
        else:
            units.append(paragraph)
    return window_units(units, max_chars, "\n\n")


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
