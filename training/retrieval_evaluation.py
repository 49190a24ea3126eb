"""`supportbot eval retrieval`: ranking quality and the fitted no-answer threshold, as a dict."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.errors import InputError
from knowledge.builder import build_store
from knowledge.embedder import Embedder
from knowledge.files import iter_jsonl
from knowledge.loaders import load_jsonl
from knowledge.modes import make_retriever
from knowledge.options import RetrievalMode
from knowledge.quality import held_out_no_answer_point, ranking_metrics


def evaluate_retrieval(
    docs_path: Path,
    queries_path: Path,
    embedder: Embedder,
    *,
    mode: RetrievalMode | str = RetrievalMode.HYBRID,
) -> dict[str, Any]:
    """Index the documents, rank them for each query and fit the no-answer threshold.

    ``min_score`` is fitted by hiding half the documents (two folds): questions whose
    document is hidden must score under it, the rest over it. It needs at least two
    documents; with fewer it is left out.
    """
    documents = list(load_jsonl(docs_path))
    queries = load_queries(queries_path)
    started = time.perf_counter()
    store = build_store(documents, embedder)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result: dict[str, Any] = {
        "mode": RetrievalMode(mode).value,
        **ranking_metrics(make_retriever(store, embedder, mode), queries),
        "documents": len(documents),
        "queries": len(queries),
        "build_seconds": round(build_seconds, 2),
        "query_seconds": round(time.perf_counter() - started, 2),
    }
    if len(documents) >= 2:
        point = held_out_no_answer_point(
            store, lambda s: make_retriever(s, embedder, mode), queries
        )
        result["min_score"] = point.min_score
        result["no_answer_balanced_accuracy"] = point.balanced_accuracy
    return result


def load_queries(path: Path) -> list[tuple[str, str]]:
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
