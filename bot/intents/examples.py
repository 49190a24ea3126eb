"""Load labelled training text from the tenant YAML, CSV or JSONL; errors name the line."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import InputError
from bot.tenant import load_tenant_intents
from knowledge.errors import KnowledgeError
from knowledge.files import iter_jsonl

TEXT_COLUMNS = ("text", "utterance", "sentence", "query", "instruction")
LABEL_COLUMNS = ("label", "intent", "category")


@dataclass(frozen=True)
class LabeledText:
    text: str
    label: str


def load_examples(
    path: Path, *, text_col: str | None = None, label_col: str | None = None, min_classes: int = 2
) -> list[LabeledText]:
    """Read ``path`` by its extension (.yml/.yaml tenant file, .csv, .jsonl)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in {".yml", ".yaml"}:
        examples = [LabeledText(t, l) for t, l in load_tenant_intents(path).examples()]
    elif suffix == ".csv":
        examples = _load_csv(path, text_col, label_col)
    elif suffix == ".jsonl":
        examples = _load_jsonl(path, text_col or "text", label_col or "label")
    else:
        raise InputError(
            f"{path}: unsupported training file type {suffix!r} (use .yml, .csv or .jsonl)"
        )
    if not examples:
        raise InputError(f"{path}: no examples found")
    classes = {example.label for example in examples}
    if len(classes) < min_classes:
        raise InputError(
            f"{path}: found {len(classes)} class ({', '.join(sorted(classes))}); "
            f"a classifier needs at least {min_classes}"
        )
    return examples


def data_hash(examples: Sequence[LabeledText]) -> str:
    """Order-independent fingerprint of a training set, stored in the model manifest."""
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: (e.label, e.text)):
        digest.update(f"{example.label}\x1f{example.text}\x1e".encode())
    return digest.hexdigest()


def _pick(
    columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str, path: Path
) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise InputError(
                f"{path}:1: no {what} column {wanted!r}; the header has {', '.join(columns)}"
            )
        return wanted
    for candidate in candidates:
        if candidate in columns:
            return candidate
    raise InputError(
        f"{path}:1: cannot tell the {what} column among {', '.join(columns) or '(none)'}; "
        f"name it one of {', '.join(candidates)} or pass --{what}-col"
    )


def _load_csv(path: Path, text_col: str | None, label_col: str | None) -> list[LabeledText]:
    # utf-8-sig: spreadsheet programs start CSV files with a byte-order mark.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        text_key = _pick(columns, text_col, TEXT_COLUMNS, "text", path)
        label_key = _pick(columns, label_col, LABEL_COLUMNS, "label", path)
        examples = []
        for row in reader:
            line = reader.line_num
            examples.append(_checked(path, line, row.get(text_key), row.get(label_key)))
    return examples


def _load_jsonl(path: Path, text_key: str, label_key: str) -> list[LabeledText]:
    examples = []
    try:
        records = list(iter_jsonl(path))
    except KnowledgeError as exc:
        raise InputError(str(exc)) from exc
    for line, record in records:
        if not isinstance(record, dict) or text_key not in record or label_key not in record:
            raise InputError(
                f"{path}:{line}: expected an object with {text_key!r} and {label_key!r}"
            )
        examples.append(_checked(path, line, record[text_key], record[label_key]))
    return examples


def _checked(path: Path, line: int, text: object, label: object) -> LabeledText:
    text_value = "" if text is None else str(text).strip()
    label_value = "" if label is None else str(label).strip()
    if not label_value:
        raise InputError(f"{path}:{line}: empty label")
    if not text_value:
        raise InputError(f"{path}:{line}: empty text")
    return LabeledText(text_value, label_value)
