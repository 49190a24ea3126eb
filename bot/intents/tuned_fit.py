"""Training a tuned-layer intent model: fine-tune, blend with the frozen head, calibrate.

Unlike the logistic-regression head, the tuned layers are not refitted on all the data
afterwards: a second fine-tune would double the training time, and the held-out split
keeps the calibration honest (tuned layers are overconfident on examples they were
trained on). The frozen-embedding head blended in is cheap, so it is refitted on all the
data once its weight has been chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.intents.calibration import OperatingPoint, fit_operating_point
from bot.intents.ensemble import blend_logits, fit_blend_weight
from bot.intents.linear_head import fit_linear_head
from bot.intents.nearest import ExampleIndex
from bot.intents.top_layers import TopLayers, fine_tune
from bot.intents.tuning import TuningConfig
from knowledge.embedder import Embedder


@dataclass(frozen=True)
class TunedFit:
    top: TopLayers
    labels: list[str]
    weights: np.ndarray  # the tuned head, logits = features @ weights.T + bias
    bias: np.ndarray
    features: np.ndarray  # every training text through the tuned layers (normalised)
    classes: np.ndarray  # every training text's class index into ``labels``
    frozen_head: tuple[np.ndarray, np.ndarray] | None  # (weights, bias) on frozen embeddings
    blend_weight: float  # the tuned head's share of the logits; 1.0 without a frozen head
    operating_point: OperatingPoint | None  # None when the data was too small to split


def fit_tuned(
    embedder: Embedder,
    texts: list[str],
    targets: np.ndarray,
    tuning: TuningConfig,
    *,
    split: tuple[np.ndarray, np.ndarray] | None,
    regularization: float,
    max_accuracy_drop: float,
    show_progress: bool = False,
) -> TunedFit:
    """Tune on the split's first part; choose the blend and operating point on its second."""
    top = TopLayers(embedder, tuning.layers)
    encoded = embedder.encode_with_states(texts, top.tap_layer, show_progress=show_progress)
    labels = sorted({str(label) for label in targets})
    index = {label: i for i, label in enumerate(labels)}
    classes = np.array([index[str(label)] for label in targets])
    fit_idx = split[0] if split else np.arange(len(targets))
    weights, bias = fine_tune(
        top,
        [encoded.states[i] for i in fit_idx],
        classes[fit_idx],
        len(labels),
        tuning,
        show_progress=show_progress,
    )
    features = top.embed(encoded.states)
    if split is None:
        return TunedFit(top, labels, weights, bias, features, classes, None, 1.0, None)

    val_idx = split[1]
    frozen = encoded.embeddings
    tuned_logits = features[val_idx] @ weights.T + bias
    frozen_weights, frozen_bias, _ = fit_linear_head(
        frozen[fit_idx], targets[fit_idx], regularization
    )
    frozen_logits = frozen[val_idx] @ frozen_weights.T + frozen_bias
    blend_weight = fit_blend_weight(tuned_logits, frozen_logits, classes[val_idx])
    point = fit_operating_point(
        blend_logits(tuned_logits, frozen_logits, blend_weight),
        classes[val_idx],
        features[val_idx],
        ExampleIndex(features[fit_idx], classes[fit_idx], len(labels)),
        max_accuracy_drop,
    )
    frozen_head = None
    if blend_weight < 1.0:
        frozen_head = fit_linear_head(frozen, targets, regularization)[:2]
    return TunedFit(top, labels, weights, bias, features, classes, frozen_head, blend_weight, point)
