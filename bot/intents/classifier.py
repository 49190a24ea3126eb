"""Intent classifier: the shared sentence embedder plus a trained linear (softmax) head.

The head is stored as plain arrays with a JSON manifest, not a pickle, so an artifact
can be inspected and loaded without executing code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import AssetError, InputError
from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError
from knowledge.files import read_manifest, write_directory_atomically

ARTIFACT_VERSION = 1
HEAD_FILE = "head.npz"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True)
class IntentPrediction:
    """Intents ranked by confidence; ``truncated`` when the text exceeded the model window."""

    ranked: tuple[IntentScore, ...]
    truncated: bool = False

    @property
    def top(self) -> IntentScore:
        return self.ranked[0]


class IntentClassifier:
    """``fit`` on labelled texts, ``predict`` ranked intents, ``save``/``load`` an artifact."""

    def __init__(self, embedder: Embedder, *, regularization: float = 10.0) -> None:
        if regularization <= 0:
            raise InputError(f"regularization must be positive, got {regularization}")
        self.embedder = embedder
        self.regularization = regularization
        self.labels: list[str] = []
        self._weights: np.ndarray | None = None  # (classes, dimension)
        self._bias: np.ndarray | None = None  # (classes,)
        self.manifest: dict[str, Any] = {}

    @property
    def is_fitted(self) -> bool:
        return self._weights is not None

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], *, show_progress: bool = False
    ) -> IntentClassifier:
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise InputError(f"{len(texts)} texts but {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise InputError(f"need at least two intents to train, got {classes}")
        vectors = self.embedder.encode(list(texts), show_progress=show_progress)
        head = LogisticRegression(C=self.regularization, max_iter=3000)
        head.fit(vectors, list(labels))
        weights = np.asarray(head.coef_, dtype=np.float32)
        bias = np.asarray(head.intercept_, dtype=np.float32)
        if len(classes) == 2:
            # scikit-learn keeps one row for two classes; softmax over (-z/2, z/2) is sigmoid(z).
            weights = np.vstack([-weights / 2, weights / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
        self.labels = [str(label) for label in head.classes_]
        self._weights, self._bias = weights, bias
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(labels))``, columns in ``labels`` order."""
        if self._weights is None or self._bias is None:
            raise AssetError("the intent classifier is not trained; run `supportbot train intents`")
        cleaned = [text if text.strip() else " " for text in texts]
        logits = self.embedder.encode(cleaned) @ self._weights.T + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def predict_batch(self, texts: Sequence[str], top_k: int = 3) -> list[IntentPrediction]:
        if not texts:
            return []
        probabilities = self.predict_proba(texts)
        window = self.embedder.max_tokens
        return [
            self.ranked(row, truncated=self.embedder.token_count(text) > window, top_k=top_k)
            for text, row in zip(texts, probabilities, strict=True)
        ]

    def ranked(
        self, probabilities: np.ndarray, *, truncated: bool = False, top_k: int = 3
    ) -> IntentPrediction:
        """The ``top_k`` intents of one probability row (columns in ``labels`` order)."""
        order = np.argsort(-probabilities)[: max(1, top_k)]
        scores = tuple(IntentScore(self.labels[i], float(probabilities[i])) for i in order)
        return IntentPrediction(scores, truncated=truncated)

    def predict(self, text: str, top_k: int = 3) -> IntentPrediction:
        return self.predict_batch([text], top_k)[0]

    def save(self, directory: Path, **manifest_extra: Any) -> None:
        """Write the head and its manifest to ``directory``, replacing any previous artifact whole."""
        if self._weights is None or self._bias is None:
            raise AssetError("cannot save an untrained intent classifier")
        self.manifest = {
            "artifact_version": ARTIFACT_VERSION,
            "kind": "embedding+logistic-regression",
            "embedder": self.embedder.name,
            "dimension": int(self._weights.shape[1]),
            "labels": self.labels,
            "regularization": self.regularization,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **manifest_extra,
        }

        def write(staging: Path) -> None:
            np.savez(staging / HEAD_FILE, weights=self._weights, bias=self._bias)
            (staging / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2), "utf-8")

        write_directory_atomically(directory, write)

    @classmethod
    def load(cls, directory: Path, embedder: Embedder) -> IntentClassifier:
        manifest = read_intent_manifest(directory)
        if manifest is None:
            raise AssetError(
                f"no intent model in {directory}; run `supportbot train intents` first"
            )
        if manifest["embedder"] != embedder.name:
            raise AssetError(
                f"the intent model in {directory} was trained on embedder {manifest['embedder']!r}, "
                f"but {embedder.name!r} is configured; retrain it"
            )
        with np.load(Path(directory) / HEAD_FILE) as arrays:
            weights, bias = arrays["weights"], arrays["bias"]
        if weights.shape[0] != len(manifest["labels"]):
            raise AssetError(
                f"{directory}: head has {weights.shape[0]} rows for {len(manifest['labels'])} labels"
            )
        classifier = cls(embedder, regularization=float(manifest.get("regularization", 10.0)))
        classifier.labels = list(manifest["labels"])
        classifier._weights, classifier._bias = weights, bias
        classifier.manifest = manifest
        return classifier


def read_intent_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(Path(directory) / MANIFEST_FILE, "artifact_version", ARTIFACT_VERSION)
    except KnowledgeError as exc:
        raise AssetError(str(exc)) from exc
