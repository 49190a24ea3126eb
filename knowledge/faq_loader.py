"""FAQ tables: CSV with question/answer columns (id, url, language optional)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from knowledge.documents import Document
from knowledge.errors import KnowledgeError
from knowledge.text_files import read_source_text

CSV_SUFFIXES = frozenset({".csv"})
REQUIRED_COLUMNS = ("question", "answer")


def load_faq_csv(path: Path) -> Iterator[Document]:
    """One document per row: the question is the title, the answer the text.

    Without an ``id`` column a row's id is the file name and a slug of the question, so it
    stays the same when rows are added or reordered.
    """
    reader = csv.DictReader(io.StringIO(read_source_text(path), newline=""))
    columns = {name.strip().lower() for name in reader.fieldnames or ()}
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise KnowledgeError(f"{path}: an FAQ table needs the column(s) {', '.join(missing)}")
    for row in reader:
        record = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
        number = reader.line_num
        question, answer = record.get("question", ""), record.get("answer", "")
        if not question or not answer:
            raise KnowledgeError(f"{path}:{number}: a row needs both a question and an answer")
        yield Document(
            id=record.get("id") or f"{path.stem}/{slug(question)}",
            title=question,
            text=answer,
            language=record.get("language") or "en",
            url=record.get("url") or None,
            source=f"{path}:{number}",
        )


def slug(text: str, max_chars: int = 60) -> str:
    words = re.findall(r"\w+", text.lower())
    return "-".join(words)[:max_chars].strip("-") or "row"
