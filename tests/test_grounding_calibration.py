"""Threshold choice and first-claim extraction used by the grounding calibration."""

from __future__ import annotations

import numpy as np
import pytest

from bot.generation.grounding import GroundingChecker
from training.grounding_calibration import best_separating, first_claim, threshold_report


def test_the_threshold_keeps_the_asked_share_and_both_thresholds_are_scored() -> None:
    positives = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0]
    negatives = [0.1, 0.2, 0.55, 0.9]
    report = threshold_report(positives, negatives, keep=0.9, shipped=0.65)
    assert report["threshold"] == pytest.approx(0.59)
    assert report["kept"] == 0.9 and report["rejected"] == 0.75
    assert report["shipped_kept"] == 0.8 and report["shipped_rejected"] == 0.75
    assert report["positives"] == 10 and report["negatives"] == 4


def test_the_first_claim_includes_the_reply_words_before_it() -> None:
    checker = GroundingChecker(None)
    passage = ["Items must be unused and in their original packaging."]
    answer = "Yes. Items must be unused and in their original packaging. Thanks!"
    assert first_claim(answer, checker, passage) == (
        "Yes. Items must be unused and in their original packaging."
    )
    assert first_claim("I'm sorry, I don't know.", checker, passage) is None


def test_the_started_draft_threshold_best_parts_answerable_from_unanswerable() -> None:
    answerable = np.array([0.5, 0.62, 0.7, 0.8, 0.9])
    unanswerable = np.array([0.2, 0.3, 0.55, 0.75])
    # At 0.62: 4 of 5 answerable reach it, 1 of 4 unanswerable; 0.8 - 0.25 is the most.
    assert best_separating(answerable, unanswerable) == pytest.approx(0.62)
    assert best_separating(np.array([0.9]), np.array([0.1, 0.95])) == pytest.approx(0.9)
