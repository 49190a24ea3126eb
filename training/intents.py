"""Train the intent classifier from a tenant YAML, CSV or JSONL file and save it as an artifact."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.intents import IntentClassifier, load_examples
from bot.intents.classifier import read_intent_manifest
from bot.intents.examples import data_hash
from bot.intents.tuning import TuningConfig
from knowledge.embedder import Embedder


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    examples: int
    intents: int
    seconds: float
    unchanged: bool


def train_intent_model(
    data_path: Path,
    output_dir: Path,
    embedder: Embedder,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    force: bool = False,
    progress: bool = True,
    tuning: TuningConfig | None = None,
) -> TrainResult:
    """Fit and save; skipped when the saved model already has this data, embedder and tuning."""
    examples = load_examples(data_path, text_col=text_col, label_col=label_col)
    fingerprint = data_hash(examples)
    existing = read_intent_manifest(output_dir)
    if (
        not force
        and existing is not None
        and existing.get("training_data_hash") == fingerprint
        and existing.get("embedder") == embedder.name
        and existing.get("tuning") == (asdict(tuning) if tuning else None)
    ):
        return TrainResult(output_dir, len(examples), len(existing["labels"]), 0.0, unchanged=True)
    started = time.perf_counter()
    classifier = IntentClassifier(embedder, tuning=tuning).fit(
        [e.text for e in examples], [e.label for e in examples], show_progress=progress
    )
    seconds = time.perf_counter() - started
    classifier.save(
        output_dir,
        training_data_hash=fingerprint,
        training_data=str(data_path),
        examples=len(examples),
        train_seconds=round(seconds, 2),
    )
    return TrainResult(output_dir, len(examples), len(classifier.labels), seconds, unchanged=False)
