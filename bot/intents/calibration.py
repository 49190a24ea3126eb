"""Confidence calibration and the out-of-scope operating point, both fitted on held-out data.

Temperature scaling keeps the ranking of intents and only rescales how sure the model says
it is; the out-of-scope threshold is then read off the calibrated confidences of in-scope
validation messages, so no out-of-scope training examples are needed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from bot.intents.nearest import ExampleIndex


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``targets`` (class indices)."""

    def nll(log_temperature: float) -> float:
        probabilities = softmax(logits, float(np.exp(log_temperature)))
        return float(-np.log(probabilities[np.arange(len(targets)), targets] + 1e-12).mean())

    result = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(
    probabilities: np.ndarray, targets: np.ndarray, bins: int = 15
) -> float:
    """Average gap between confidence and accuracy over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def choose_oos_threshold(
    confidence: np.ndarray, correct: np.ndarray, max_accuracy_drop: float
) -> float:
    """The highest confidence threshold that costs in-scope accuracy at most ``max_accuracy_drop``.

    A message below the threshold is declared out of scope; on in-scope validation messages
    that turns a correct answer into a wrong one, so the loss is the share of correct
    messages under the threshold.
    """
    if len(confidence) == 0:
        return 0.0
    order = np.argsort(confidence)
    lost = np.cumsum(correct[order]) / len(
        confidence
    )  # accuracy lost if the first i+1 are rejected
    affordable = np.nonzero(lost <= max_accuracy_drop)[0]
    if len(affordable) == 0:
        return 0.0
    # Reject everything up to and including the last affordable message.
    return float(np.nextafter(confidence[order][affordable[-1]], np.inf))


@dataclass(frozen=True)
class OperatingPoint:
    temperature: float
    confidence_threshold: float  # out of scope below this calibrated confidence ...
    similarity_threshold: float  # ... or below this cosine to the predicted intent's examples
    validation: dict[str, float]


def fit_operating_point(
    logits: np.ndarray,
    val_targets: np.ndarray,
    val_vectors: np.ndarray,
    fit_examples: ExampleIndex,
    max_accuracy_drop: float,
) -> OperatingPoint:
    """Temperature, then the two out-of-scope thresholds, from held-out in-scope messages."""
    before = softmax(logits)
    temperature = fit_temperature(logits, val_targets)
    after = softmax(logits, temperature)
    correct = after.argmax(axis=1) == val_targets
    # Two signals share the accuracy budget, half each, so together they spend at most all of it.
    budget = max_accuracy_drop / 2
    nearest = fit_examples.nearest(val_vectors, after.argmax(axis=1))
    return OperatingPoint(
        temperature=temperature,
        confidence_threshold=choose_oos_threshold(after.max(axis=1), correct, budget),
        similarity_threshold=choose_oos_threshold(nearest, correct, budget),
        validation={
            "examples": len(val_targets),
            "accuracy": round(float(correct.mean()), 4),
            "ece_before_calibration": round(expected_calibration_error(before, val_targets), 4),
            "ece_after_calibration": round(expected_calibration_error(after, val_targets), 4),
        },
    )


def validation_split(
    targets: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Stratified (fit, validation) indices, or None when the data is too small to split."""
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(targets, return_counts=True)
    held_out = max(len(classes), round(fraction * len(targets)))
    if fraction == 0 or counts.min() < 2 or len(targets) - held_out < len(classes):
        return None
    fit_idx, val_idx = train_test_split(
        np.arange(len(targets)), test_size=held_out, random_state=seed, stratify=targets
    )
    return np.asarray(fit_idx), np.asarray(val_idx)
