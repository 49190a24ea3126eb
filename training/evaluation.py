"""`supportbot eval intents`: intent quality on labelled files, as plain dicts for JSON.

Retrieval quality is in training/retrieval_evaluation.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, f1_score

from bot.intents import IntentClassifier, load_examples
from bot.intents.tuning import TuningConfig
from knowledge.embedder import Embedder
from training.report import write_intent_report


def evaluate_intents(
    train_path: Path,
    test_path: Path,
    embedder: Embedder,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    oos_label: str | None = None,
    report_dir: Path | None = None,
    tuning: TuningConfig | None = None,
) -> dict[str, Any]:
    """Train on ``train_path``, predict ``test_path``; with ``report_dir`` also write a report."""
    train = load_examples(train_path, text_col=text_col, label_col=label_col)
    test = load_examples(test_path, text_col=text_col, label_col=label_col, min_classes=1)
    in_scope = [e for e in train if e.label != oos_label]
    texts, labels = [e.text for e in in_scope], [e.label for e in in_scope]
    started = time.perf_counter()
    classifier = IntentClassifier(embedder, tuning=tuning).fit(texts, labels, show_progress=True)
    # The operating point comes from the training data's validation split, never the test file.
    threshold = classifier.oos_threshold if oos_label else None
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probabilities = classifier.predict_proba([e.text for e in test])
    predict_seconds = time.perf_counter() - started
    closed_set = [classifier.labels[i] for i in probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    predicted = closed_set
    if threshold is not None:
        flagged = classifier.is_out_of_scope([e.text for e in test])
        predicted = [str(oos_label) if f else p for p, f in zip(closed_set, flagged, strict=True)]
    gold = [e.label for e in test]
    result: dict[str, Any] = {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro", zero_division=0)), 4),
        "train_examples": len(in_scope),
        "test_examples": len(test),
        "intents": len(classifier.labels),
        "train_seconds": round(train_seconds, 2),
        "predict_seconds": round(predict_seconds, 2),
        "model": classifier.kind,
    }
    if oos_label is not None:
        result.update(oos_metrics(gold, predicted, oos_label, threshold))
        result["oos_similarity_threshold"] = round(classifier.similarity_threshold, 4)
        in_scope = [(g, p) for g, p in zip(gold, closed_set, strict=True) if g != oos_label]
        # The same model without the out-of-scope decision, to show what the decision costs.
        result["in_scope_accuracy_without_oos"] = round(
            sum(g == p for g, p in in_scope) / max(1, len(in_scope)), 4
        )
    if report_dir is not None:
        write_intent_report(report_dir, result, gold, predicted, confidence.tolist())
        result["report"] = str(report_dir)
    return result


def oos_metrics(
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
        "oos_confidence_threshold": round(float(threshold or 0.0), 4),
    }
