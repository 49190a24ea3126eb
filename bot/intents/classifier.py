"""Intent classifier: the shared sentence embedder plus a trained linear (softmax) head.

Two kinds of model: a logistic-regression head on the frozen embeddings (fast to train),
or the embedder's top layers fine-tuned together with a softmax head (more accurate; see
:mod:`bot.intents.top_layers`). The head is stored as plain arrays and the tuned layers as
safetensors, with a JSON manifest, not a pickle, so an artifact can be inspected and loaded
without executing code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import AssetError, InputError
from bot.intents.calibration import (
    OperatingPoint,
    fit_operating_point,
    softmax,
    validation_split,
)
from bot.intents.ensemble import blend_logits
from bot.intents.head_arrays import HeadArrays
from bot.intents.linear_head import fit_linear_head
from bot.intents.nearest import ExampleIndex
from bot.intents.prediction import IntentPrediction, IntentScore
from bot.intents.top_layers import TopLayers
from bot.intents.tuned_fit import fit_tuned
from bot.intents.tuning import TuningConfig
from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError
from knowledge.files import read_manifest, write_directory_atomically

ARTIFACT_VERSION = 1
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class _Encoded:
    """What the heads read for a batch of texts."""

    vectors: np.ndarray  # the classifier's features: tuned-layer or frozen embeddings
    frozen: np.ndarray | None = None  # the frozen embeddings too, when a tuned model blends


class IntentClassifier:
    """``fit`` on labelled texts, ``predict`` ranked intents, ``save``/``load`` an artifact.

    ``fit`` first trains on a stratified split and fits, on the held-out part, a softmax
    temperature (calibrated confidences) and the out-of-scope threshold: the highest one
    that costs at most ``max_oos_accuracy_drop`` of in-scope accuracy. The head is then
    trained again on all the data.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        regularization: float = 10.0,
        validation_fraction: float = 0.15,
        max_oos_accuracy_drop: float = 0.02,
        seed: int = 0,
        tuning: TuningConfig | None = None,
    ) -> None:
        if regularization <= 0:
            raise InputError(f"regularization must be positive, got {regularization}")
        if not 0.0 <= validation_fraction < 1.0:
            raise InputError(
                f"validation_fraction must be within [0, 1), got {validation_fraction}"
            )
        if not 0.0 <= max_oos_accuracy_drop <= 1.0:
            raise InputError(
                f"max_oos_accuracy_drop must be within [0, 1], got {max_oos_accuracy_drop}"
            )
        self.embedder = embedder
        self.regularization = regularization
        self.validation_fraction = validation_fraction
        self.max_oos_accuracy_drop = max_oos_accuracy_drop
        self.seed = seed
        # None: a logistic-regression head on frozen embeddings; else how to tune top layers.
        self.tuning = tuning
        self._top: TopLayers | None = None
        self.labels: list[str] = []
        self._weights: np.ndarray | None = None  # (classes, dimension)
        self._bias: np.ndarray | None = None  # (classes,)
        # Tuned models also keep a logistic-regression head on the frozen embeddings and
        # blend its logits in with this weight for the tuned head (1.0: tuned head alone).
        self._frozen_head: tuple[np.ndarray, np.ndarray] | None = None
        self.blend_weight = 1.0
        self.temperature = 1.0
        self.oos_threshold = 0.0
        # Out of scope also when no training example is this similar: catches messages that
        # the softmax still assigns confidently (nonsense landing on "goodbye").
        self.similarity_threshold = -1.0
        # Normalised training features and their class indices, for the similarity check.
        self._examples: np.ndarray | None = None
        self._example_classes: np.ndarray | None = None
        self._example_index: ExampleIndex | None = None
        self.validation: dict[str, float] = {}
        self.manifest: dict[str, Any] = {}

    @property
    def kind(self) -> str:
        return "embedding+logistic-regression" if self._top is None else "tuned-top-layers"

    @property
    def is_fitted(self) -> bool:
        return self._weights is not None

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], *, show_progress: bool = False
    ) -> IntentClassifier:
        if len(texts) != len(labels):
            raise InputError(f"{len(texts)} texts but {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise InputError(f"need at least two intents to train, got {classes}")
        targets = np.asarray(labels)
        if self.tuning is not None:
            return self._fit_tuned(list(texts), targets, self.tuning, show_progress)
        self._top, self._frozen_head, self.blend_weight = None, None, 1.0
        vectors = self.embedder.encode(list(texts), show_progress=show_progress)
        self._calibrate(vectors, targets)
        self._weights, self._bias, self.labels = fit_linear_head(
            vectors, targets, self.regularization
        )
        index = {label: i for i, label in enumerate(self.labels)}
        self._set_examples(vectors, np.array([index[str(t)] for t in targets]))
        return self

    def _set_examples(self, vectors: np.ndarray, classes: np.ndarray | None) -> None:
        self._examples = np.ascontiguousarray(vectors, dtype=np.float32)
        self._example_classes = classes
        self._example_index = ExampleIndex(self._examples, classes, len(self.labels))

    def _fit_tuned(
        self, texts: list[str], targets: np.ndarray, tuning: TuningConfig, show_progress: bool
    ) -> IntentClassifier:
        fitted = fit_tuned(
            self.embedder,
            texts,
            targets,
            tuning,
            split=self._split(targets),
            regularization=self.regularization,
            max_accuracy_drop=self.max_oos_accuracy_drop,
            show_progress=show_progress,
        )
        self._top, self.labels = fitted.top, fitted.labels
        self._weights, self._bias = fitted.weights, fitted.bias
        self._frozen_head, self.blend_weight = fitted.frozen_head, fitted.blend_weight
        self._set_examples(fitted.features, fitted.classes)
        self._reset_operating_point()
        if fitted.operating_point is not None:
            self._adopt(fitted.operating_point)
            self.validation["blend_weight"] = fitted.blend_weight
        return self

    def _split(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return validation_split(targets, self.validation_fraction, self.seed)

    def _reset_operating_point(self) -> None:
        self.temperature, self.oos_threshold, self.validation = 1.0, 0.0, {}
        self.similarity_threshold = -1.0

    def _calibrate(self, vectors: np.ndarray, targets: np.ndarray) -> None:
        """Fit temperature and out-of-scope threshold on a held-out split (skipped if too small)."""
        self._reset_operating_point()
        split = self._split(targets)
        if split is None:
            return
        fit_idx, val_idx = split
        weights, bias, labels = fit_linear_head(
            vectors[fit_idx], targets[fit_idx], self.regularization
        )
        index = {label: i for i, label in enumerate(labels)}
        self._fit_operating_point(
            vectors[val_idx] @ weights.T + bias,
            np.array([index[t] for t in targets[val_idx]]),
            vectors[val_idx],
            ExampleIndex(
                vectors[fit_idx], np.array([index[t] for t in targets[fit_idx]]), len(labels)
            ),
        )

    def _fit_operating_point(
        self,
        logits: np.ndarray,
        val_targets: np.ndarray,
        val_vectors: np.ndarray,
        fit_examples: ExampleIndex,
    ) -> None:
        self._adopt(
            fit_operating_point(
                logits, val_targets, val_vectors, fit_examples, self.max_oos_accuracy_drop
            )
        )

    def _adopt(self, point: OperatingPoint) -> None:
        self.temperature = point.temperature
        self.oos_threshold = point.confidence_threshold
        self.similarity_threshold = point.similarity_threshold
        self.validation = point.validation

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, shape ``(len(texts), len(labels))``, in ``labels`` order."""
        return self._probabilities(self._encode(texts))

    def _encode(self, texts: Sequence[str]) -> _Encoded:
        if self._weights is None:
            raise AssetError("the intent classifier is not trained; run `supportbot train intents`")
        texts = [text if text.strip() else " " for text in texts]
        if self._top is None:
            return _Encoded(self.embedder.encode(texts))
        encoded = self.embedder.encode_with_states(texts, self._top.tap_layer)
        frozen = encoded.embeddings if self._frozen_head is not None else None
        return _Encoded(self._top.embed(encoded.states), frozen)

    def _probabilities(self, encoded: _Encoded) -> np.ndarray:
        if self._weights is None or self._bias is None:
            raise AssetError("the intent classifier is not trained; run `supportbot train intents`")
        logits = encoded.vectors @ self._weights.T + self._bias
        if self._frozen_head is not None and encoded.frozen is not None:
            frozen_weights, frozen_bias = self._frozen_head
            frozen_logits = encoded.frozen @ frozen_weights.T + frozen_bias
            logits = blend_logits(logits, frozen_logits, self.blend_weight)
        return softmax(logits, self.temperature)

    def _nearest_similarity(self, vectors: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        if self._example_index is None or self._examples is None or not len(self._examples):
            return np.ones(len(vectors))
        return self._example_index.nearest(vectors, predicted)

    def predict_batch(self, texts: Sequence[str], top_k: int = 3) -> list[IntentPrediction]:
        if not texts:
            return []
        encoded = self._encode(texts)
        probabilities = self._probabilities(encoded)
        nearest = self._nearest_similarity(encoded.vectors, probabilities.argmax(axis=1))
        window = self.embedder.max_tokens
        return [
            self.ranked(
                row,
                truncated=self.embedder.token_count(text) > window,
                top_k=top_k,
                nearest_similarity=similarity,
            )
            for text, row, similarity in zip(texts, probabilities, nearest, strict=True)
        ]

    def predict_pooled(self, readings: Sequence[str], top_k: int = 3) -> IntentPrediction:
        """One prediction from several readings of a message (alone, with its context).

        The probabilities are averaged; out of scope needs both signals to say so across
        the readings: the pooled confidence and the best reading's nearest-example similarity.
        """
        if not readings:
            raise InputError("predict_pooled needs at least one reading")
        # One text per call, so a reading encoded earlier in the turn comes from the cache.
        parts = [self._encode([text]) for text in readings]
        frozen = [part.frozen for part in parts if part.frozen is not None]
        encoded = _Encoded(
            np.vstack([part.vectors for part in parts]),
            np.vstack(frozen) if len(frozen) == len(parts) else None,
        )
        window = self.embedder.max_tokens
        probabilities = self._probabilities(encoded).mean(axis=0)
        top = np.full(len(readings), int(probabilities.argmax()))
        return self.ranked(
            probabilities,
            truncated=any(self.embedder.token_count(text) > window for text in readings),
            top_k=top_k,
            nearest_similarity=float(self._nearest_similarity(encoded.vectors, top).max()),
        )

    def ranked(
        self,
        probabilities: np.ndarray,
        *,
        truncated: bool = False,
        top_k: int = 3,
        nearest_similarity: float = 1.0,
    ) -> IntentPrediction:
        """The ``top_k`` intents of one probability row (columns in ``labels`` order)."""
        order = np.argsort(-probabilities)[: max(1, top_k)]
        scores = tuple(IntentScore(self.labels[i], float(probabilities[i])) for i in order)
        out_of_scope = (
            scores[0].confidence < self.oos_threshold
            or nearest_similarity < self.similarity_threshold
        )
        return IntentPrediction(scores, truncated=truncated, out_of_scope=bool(out_of_scope))

    def is_out_of_scope(self, texts: Sequence[str]) -> np.ndarray:
        """Per text, whether neither confidence nor similarity reaches its operating point."""
        encoded = self._encode(texts)
        probabilities = self._probabilities(encoded)
        nearest = self._nearest_similarity(encoded.vectors, probabilities.argmax(axis=1))
        return (probabilities.max(axis=1) < self.oos_threshold) | (
            nearest < self.similarity_threshold
        )

    def predict(self, text: str, top_k: int = 3) -> IntentPrediction:
        return self.predict_batch([text], top_k)[0]

    def save(self, directory: Path, **manifest_extra: Any) -> None:
        """Write the head and its manifest to ``directory``, replacing any previous artifact whole."""
        if self._weights is None or self._bias is None:
            raise AssetError("cannot save an untrained intent classifier")
        self.manifest = {
            "artifact_version": ARTIFACT_VERSION,
            "kind": self.kind,
            "tuned_layers": 0 if self._top is None else len(self._top.layers),
            "tuning": None if self.tuning is None else asdict(self.tuning),
            "blend_weight": self.blend_weight if self._frozen_head is not None else 1.0,
            "embedder": self.embedder.name,
            "dimension": int(self._weights.shape[1]),
            "labels": self.labels,
            "regularization": self.regularization,
            "temperature": self.temperature,
            "oos_threshold": self.oos_threshold,
            "similarity_threshold": self.similarity_threshold,
            "max_oos_accuracy_drop": self.max_oos_accuracy_drop,
            "validation": self.validation,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **manifest_extra,
        }

        arrays = HeadArrays(
            self._weights, self._bias, self._examples, self._example_classes, self._frozen_head
        )

        def write(staging: Path) -> None:
            arrays.save(staging)
            if self._top is not None:
                self._top.save(staging)
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
        arrays = HeadArrays.load(directory)
        weights, bias = arrays.weights, arrays.bias
        if weights.shape[0] != len(manifest["labels"]):
            raise AssetError(
                f"{directory}: head has {weights.shape[0]} rows for {len(manifest['labels'])} labels"
            )
        classifier = cls(embedder, regularization=float(manifest.get("regularization", 10.0)))
        classifier.labels = list(manifest["labels"])
        classifier.temperature = float(manifest.get("temperature", 1.0))
        classifier.oos_threshold = float(manifest.get("oos_threshold", 0.0))
        classifier.similarity_threshold = float(manifest.get("similarity_threshold", -1.0))
        if arrays.examples is not None:
            classes = arrays.example_classes
            if classes is not None and len(classes) != len(arrays.examples):
                classes = None  # an artifact from before examples kept their classes
            classifier._set_examples(arrays.examples, classes)
        classifier.validation = dict(manifest.get("validation", {}))
        if int(manifest.get("tuned_layers", 0)) > 0:
            classifier._top = TopLayers.load(
                directory, embedder, int(manifest["tuned_layers"]), onnx=embedder.uses_onnx
            )
            if manifest.get("tuning"):
                classifier.tuning = TuningConfig(**manifest["tuning"])
            if arrays.frozen_head is not None:
                classifier._frozen_head = arrays.frozen_head
                classifier.blend_weight = float(manifest.get("blend_weight", 1.0))
        classifier._weights, classifier._bias = weights, bias
        classifier.manifest = manifest
        return classifier


def read_intent_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(Path(directory) / MANIFEST_FILE, "artifact_version", ARTIFACT_VERSION)
    except KnowledgeError as exc:
        raise AssetError(str(exc)) from exc
