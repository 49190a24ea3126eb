"""The out-of-scope similarity signal: nearest example of the predicted intent."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.intents.head_arrays import HeadArrays
from bot.intents.nearest import ExampleIndex


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_only_the_predicted_intents_examples_count() -> None:
    examples = np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)])
    index = ExampleIndex(examples, np.array([0, 1, 1]), class_count=3)
    query = np.stack([unit(1, 0, 0), unit(1, 0, 0)])
    nearest = index.nearest(query, np.array([0, 1]))
    assert nearest[0] == 1.0  # its own intent's example is identical ...
    assert abs(nearest[1]) < 1e-6  # ... but class 1 holds nothing close to it
    assert index.nearest(query[:1], np.array([2]))[0] == -1.0  # an intent with no examples


def test_without_classes_every_example_counts() -> None:
    examples = np.stack([unit(1, 0), unit(0, 1)])
    index = ExampleIndex(examples, None, class_count=2)
    assert index.nearest(np.stack([unit(0, 1)]), np.array([0]))[0] == 1.0


def test_head_arrays_keep_example_classes(tmp_path: Path) -> None:
    weights, bias = np.ones((2, 3), np.float32), np.zeros(2, np.float32)
    examples = np.stack([unit(1, 0, 0), unit(0, 1, 0)])
    HeadArrays(weights, bias, examples, np.array([1, 0])).save(tmp_path)
    loaded = HeadArrays.load(tmp_path)
    assert loaded.example_classes is not None and list(loaded.example_classes) == [1, 0]
    np.testing.assert_allclose(loaded.examples, examples, atol=1e-3)  # stored as float16
    assert loaded.frozen_head is None
