"""Read knowledge sources into :class:`Document` objects, reporting every file that is skipped.

Markdown with front matter and JSONL are read here; HTML and CSV FAQ tables have their own modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml

from knowledge.documents import Document
from knowledge.errors import KnowledgeError
from knowledge.faq_loader import CSV_SUFFIXES, load_faq_csv
from knowledge.files import iter_jsonl
from knowledge.html_loader import HTML_SUFFIXES, load_html
from knowledge.text_files import MAX_SOURCE_BYTES, read_source_text

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
JSONL_SUFFIXES = frozenset({".jsonl"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | JSONL_SUFFIXES | HTML_SUFFIXES | CSV_SUFFIXES
__all__ = [
    "MAX_SOURCE_BYTES",
    "SUPPORTED_SUFFIXES",
    "LoadReport",
    "load_jsonl",
    "load_markdown",
    "load_sources",
]


@dataclass
class LoadReport:
    """Documents that loaded, and (path, reason) for every file that did not."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_markdown(path: Path) -> Document:
    """Load one markdown article whose front matter carries at least ``id`` and ``title``."""
    raw = read_source_text(path)
    try:
        post = frontmatter.loads(raw)
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: broken front matter ({exc.__class__.__name__})") from exc
    meta = post.metadata
    missing = [key for key in ("id", "title") if not str(meta.get(key, "")).strip()]
    if missing:
        raise KnowledgeError(f"{path}: front matter lacks {', '.join(missing)}")
    body = post.content.strip()
    if not body:
        raise KnowledgeError(f"{path}: the article has no text after its front matter")
    tags = meta.get("tags") or ()
    if isinstance(tags, str | int | float):
        tags = [tag.strip() for tag in str(tags).split(",") if tag.strip()]
    elif not isinstance(tags, list | tuple):
        raise KnowledgeError(f"{path}: 'tags' must be a list or a comma-separated string")
    return Document(
        id=str(meta["id"]).strip(),
        title=str(meta["title"]).strip(),
        text=body,
        language=str(meta.get("language") or "en").strip(),
        tags=tuple(str(tag) for tag in tags),
        url=str(meta["url"]) if meta.get("url") else None,
        source=str(path),
    )


def load_jsonl(path: Path) -> Iterator[Document]:
    """Yield documents from lines of ``{"id", "title", "text"}`` (optional language, url).

    FAQ lines ``{"id", "question", "answer"}`` work too: the question is the title.
    """
    read_source_text(path)  # size, binary and encoding checks
    for number, record in iter_jsonl(path):
        if not isinstance(record, dict) or not str(record.get("id", "")).strip():
            raise KnowledgeError(f"{path}:{number}: a document needs an 'id'")
        text = str(record.get("text") or record.get("answer") or "").strip()
        title = str(record.get("title") or record.get("question") or "").strip()
        if not text and not title:
            raise KnowledgeError(f"{path}:{number}: document {record['id']!r} has no text")
        yield Document(
            id=str(record["id"]),
            title=title,
            text=text or title,
            language=str(record.get("language") or "en"),
            url=record.get("url"),
            source=f"{path}:{number}",
        )


def load_sources(paths: Iterable[Path]) -> LoadReport:
    """Load every supported file under ``paths``; bad files are skipped with a reason."""
    report = LoadReport()
    seen: dict[str, str] = {}
    for path in _expand(paths):
        try:
            documents = _load_file(path)
        except KnowledgeError as exc:
            report.skipped.append((str(path), str(exc)))
            continue
        for document in documents:
            if document.id in seen:
                report.skipped.append(
                    (str(path), f"duplicate id {document.id!r} (first seen in {seen[document.id]})")
                )
                continue
            seen[document.id] = str(path)
            report.documents.append(document)
    return report


def _load_file(path: Path) -> list[Document]:
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return [load_markdown(path)]
    if suffix in JSONL_SUFFIXES:
        return list(load_jsonl(path))
    if suffix in HTML_SUFFIXES:
        return [load_html(path)]
    if suffix in CSV_SUFFIXES:
        return list(load_faq_csv(path))
    raise KnowledgeError(f"{path}: unsupported file type {suffix or '(none)'}")


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        elif path.exists():
            yield path
        else:
            raise KnowledgeError(f"{path}: no such file or directory")
