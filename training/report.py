"""A Rasa-style intent report: per-intent scores, confusion pairs, confidence histogram, plots."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

REPORT_FILE = "intent_report.json"
CONFUSION_PNG = "confusion_matrix.png"
HISTOGRAM_PNG = "confidence_histogram.png"


def intent_report(
    gold: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    *,
    top_pairs: int = 20,
) -> dict[str, Any]:
    labels = sorted(set(gold) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    per_intent = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    pairs = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    correct = np.array([g == p for g, p in zip(gold, predicted, strict=True)])
    edges = np.linspace(0.0, 1.0, 11)
    conf = np.asarray(confidence, dtype=float)
    return {
        "intents": per_intent,
        "confusions": [
            {"gold": g, "predicted": p, "count": n} for (g, p), n in pairs.most_common(top_pairs)
        ],
        "confidence_histogram": {
            "bin_edges": [round(float(e), 2) for e in edges],
            "correct": np.histogram(conf[correct], bins=edges)[0].tolist(),
            "wrong": np.histogram(conf[~correct], bins=edges)[0].tolist(),
        },
    }


def write_intent_report(
    directory: Path,
    summary: dict[str, Any],
    gold: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
) -> dict[str, Any]:
    """Write the JSON report and both plots into ``directory``; returns the report."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = {"summary": summary, **intent_report(gold, predicted, confidence)}
    (directory / REPORT_FILE).write_text(json.dumps(report, indent=2), "utf-8")

    labels = sorted(set(gold) | set(predicted))
    matrix = confusion_matrix(gold, predicted, labels=labels)
    size = max(6.0, 0.22 * len(labels))
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    axes.set_yticks(range(len(labels)), labels, fontsize=6)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title("Intent confusion matrix")
    figure.tight_layout()
    figure.savefig(directory / CONFUSION_PNG, dpi=150)
    plt.close(figure)

    histogram = report["confidence_histogram"]
    centres = np.array(histogram["bin_edges"][:-1]) + 0.05
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.bar(centres - 0.02, histogram["correct"], width=0.04, label="correct", color="#2f6f4f")
    axes.bar(centres + 0.02, histogram["wrong"], width=0.04, label="wrong", color="#b5433a")
    axes.set_xlabel("confidence of the predicted intent")
    axes.set_ylabel("messages")
    axes.set_title("Confidence histogram")
    axes.legend()
    figure.tight_layout()
    figure.savefig(directory / HISTOGRAM_PNG, dpi=150)
    plt.close(figure)
    return report
