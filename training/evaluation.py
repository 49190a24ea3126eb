"""`supportbot eval`: intent and retrieval quality on labelled files, as plain dicts for JSON."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from bot.errors import InputError
from bot.intents import IntentClassifier, load_examples
from knowledge.builder import build_store
from knowledge.embedder import Embedder
from knowledge.files import iter_jsonl
from knowledge.loaders import load_jsonl
from knowledge.retriever import DenseRetriever, rank_documents

# Share of in-scope validation messages allowed to be flagged out-of-scope when the
# threshold is picked; it is fixed in advance, never fitted to a test file.
OOS_VALIDATION_MISS_RATE = 0.05


def evaluate_intents(
    train_path: Path,
    test_path: Path,
    embedder: Embedder,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    oos_label: str | None = None,
) -> dict[str, Any]:
    train = load_examples(train_path, text_col=text_col, label_col=label_col)
    test = load_examples(test_path, text_col=text_col, label_col=label_col, min_classes=1)
    in_scope = [e for e in train if e.label != oos_label]
    texts, labels = [e.text for e in in_scope], [e.label for e in in_scope]
    started = time.perf_counter()
    threshold = _oos_threshold(texts, labels, embedder) if oos_label else None
    classifier = IntentClassifier(embedder).fit(texts, labels)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probabilities = classifier.predict_proba([e.text for e in test])
    predict_seconds = time.perf_counter() - started
    predicted = [classifier.labels[i] for i in probabilities.argmax(axis=1)]
    if threshold is not None:
        predicted = [
            p if conf >= threshold else str(oos_label)
            for p, conf in zip(predicted, probabilities.max(axis=1))
        ]
    gold = [e.label for e in test]
    result: dict[str, Any] = {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro", zero_division=0)), 4),
        "train_examples": len(in_scope),
        "test_examples": len(test),
        "intents": len(classifier.labels),
        "train_seconds": round(train_seconds, 2),
        "predict_seconds": round(predict_seconds, 2),
    }
    if oos_label is not None:
        result.update(_oos_metrics(gold, predicted, oos_label, threshold))
    return result


def _oos_threshold(texts: list[str], labels: list[str], embedder: Embedder) -> float:
    """Confidence below which a message is out of scope, from a validation split of training data."""
    fit_texts, val_texts, fit_labels, _ = train_test_split(
        texts, labels, test_size=0.15, random_state=0, stratify=labels
    )
    held_out = IntentClassifier(embedder).fit(fit_texts, fit_labels)
    confidence = held_out.predict_proba(val_texts).max(axis=1)
    return float(np.quantile(confidence, OOS_VALIDATION_MISS_RATE))


def _oos_metrics(
    gold: list[str], predicted: list[str], oos: str, threshold: float | None
) -> dict[str, Any]:
    pairs = list(zip(gold, predicted, strict=True))
    in_scope = [(g, p) for g, p in pairs if g != oos]
    flagged = [g for g, p in pairs if p == oos]
    oos_gold = [p for g, p in pairs if g == oos]
    return {
        "in_scope_accuracy": round(sum(g == p for g, p in in_scope) / max(1, len(in_scope)), 4),
        "oos_recall": round(sum(p == oos for p in oos_gold) / max(1, len(oos_gold)), 4),
        "oos_precision": round(sum(g == oos for g in flagged) / max(1, len(flagged)), 4),
        "oos_threshold": round(float(threshold or 0.0), 4),
    }


def evaluate_retrieval(
    docs_path: Path, queries_path: Path, embedder: Embedder, *, depth: int = 20
) -> dict[str, Any]:
    documents = list(load_jsonl(docs_path))
    queries = _load_queries(queries_path)
    started = time.perf_counter()
    retriever = DenseRetriever(build_store(documents, embedder), embedder)
    build_seconds = time.perf_counter() - started
    hits1 = hits5 = 0
    reciprocal = 0.0
    started = time.perf_counter()
    for query, expected in queries:
        ranked = rank_documents(retriever.run(query, depth))
        rank = ranked.index(expected) + 1 if expected in ranked else None
        hits1 += rank == 1
        hits5 += rank is not None and rank <= 5
        reciprocal += 1.0 / rank if rank else 0.0
    count = len(queries)
    return {
        "hit@1": round(hits1 / count, 4),
        "hit@5": round(hits5 / count, 4),
        "mrr": round(reciprocal / count, 4),
        "documents": len(documents),
        "queries": count,
        "build_seconds": round(build_seconds, 2),
        "query_seconds": round(time.perf_counter() - started, 2),
    }


def _load_queries(path: Path) -> list[tuple[str, str]]:
    queries = []
    for number, record in iter_jsonl(path):
        if (
            not isinstance(record, dict)
            or not str(record.get("query", "")).strip()
            or "doc_id" not in record
        ):
            raise InputError(f"{path}:{number}: expected an object with 'query' and 'doc_id'")
        queries.append((str(record["query"]), str(record["doc_id"])))
    if not queries:
        raise InputError(f"{path}: no queries found")
    return queries
