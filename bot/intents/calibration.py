"""Confidence calibration and the out-of-scope operating point, both fitted on held-out data.

Temperature scaling keeps the ranking of intents and only rescales how sure the model says
it is; the out-of-scope threshold is then read off the calibrated confidences of in-scope
validation messages, so no out-of-scope training examples are needed.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize_scalar


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
