"""Read a knowledge source as text, refusing files that are empty, too large, binary or not UTF-8."""

from __future__ import annotations

from pathlib import Path

from knowledge.errors import KnowledgeError

MAX_SOURCE_BYTES = 50 * 1024 * 1024


def read_source_text(path: Path, max_bytes: int = MAX_SOURCE_BYTES) -> str:
    """The UTF-8 text of ``path``; every refusal names the file and the reason."""
    size = path.stat().st_size
    if size == 0:
        raise KnowledgeError(f"{path}: the file is empty")
    if size > max_bytes:
        raise KnowledgeError(f"{path}: {size} bytes is over the {max_bytes}-byte limit")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise KnowledgeError(f"{path}: looks like a binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeError(f"{path}: not UTF-8 text") from exc
    # A byte-order mark is not content; editors on Windows like to add one.
    return text.removeprefix("\ufeff")
