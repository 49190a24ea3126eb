"""Temperature scaling, calibration error and the out-of-scope operating point."""

from __future__ import annotations

import numpy as np
import pytest

from bot.intents.calibration import (
    choose_oos_threshold,
    expected_calibration_error,
    fit_temperature,
    softmax,
)


def _sampled(true_temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from softmax(logits / true_temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(4000, 6))
    probabilities = softmax(logits, true_temperature)
    targets = np.array([rng.choice(6, p=row) for row in probabilities])
    return logits, targets


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fitted_temperature_recovers_the_true_one(true_temperature: float) -> None:
    logits, targets = _sampled(true_temperature)
    assert fit_temperature(logits, targets) == pytest.approx(true_temperature, rel=0.15)


def test_calibration_lowers_expected_calibration_error() -> None:
    logits, targets = _sampled(2.5)
    before = expected_calibration_error(softmax(logits), targets)
    after = expected_calibration_error(softmax(logits, fit_temperature(logits, targets)), targets)
    assert after < before / 2


def test_softmax_rows_sum_to_one_and_keep_the_ranking() -> None:
    logits = np.array([[1.0, 3.0, 2.0], [0.0, 0.0, 5.0]])
    for temperature in (0.3, 1.0, 4.0):
        probabilities = softmax(logits, temperature)
        assert np.allclose(probabilities.sum(axis=1), 1.0)
        assert (probabilities.argmax(axis=1) == logits.argmax(axis=1)).all()


def test_threshold_spends_at_most_the_accuracy_budget() -> None:
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0, 1, 1000)
    correct = rng.uniform(0, 1, 1000) < confidence  # confident answers are right more often
    threshold = choose_oos_threshold(confidence, correct, max_accuracy_drop=0.02)
    lost = (correct & (confidence < threshold)).sum() / len(confidence)
    assert 0 < threshold < 1 and lost <= 0.02
    # The next-higher candidate would overspend: the threshold is the highest affordable one.
    higher = np.sort(confidence[confidence >= threshold])[0]
    lost_higher = (correct & (confidence <= higher)).sum() / len(confidence)
    assert lost_higher > 0.02 or not correct[confidence == higher].any()


def test_no_budget_means_no_rejection_of_correct_answers() -> None:
    confidence = np.array([0.2, 0.4, 0.6, 0.9])
    correct = np.array([False, True, True, True])
    threshold = choose_oos_threshold(confidence, correct, max_accuracy_drop=0.0)
    assert 0.2 < threshold <= 0.4  # only the wrong low-confidence answer is rejected
    assert choose_oos_threshold(np.array([]), np.array([], dtype=bool), 0.02) == 0.0
