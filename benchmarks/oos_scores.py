"""Out-of-scope scores compared on BANKING77 with intents held out of training.

    python benchmarks/oos_scores.py [--data ../shared/data/banking77] [--oos-intents 10] [--json]

The same scheme as ``benchmarks/intents.py``: a seeded sample of intents is removed from
training and their test messages should be flagged. Each score gets the threshold that
costs at most ``--budget`` of in-scope accuracy on the validation split (no out-of-scope
examples are used to choose it); the table shows what that threshold catches on the test
set. Frozen embeddings and a logistic-regression head, so the whole run takes minutes.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.covariance import LedoitWolf

from bot.embedding import make_embedder
from bot.intents import load_examples
from bot.intents.calibration import (
    choose_oos_threshold,
    fit_temperature,
    softmax,
    validation_split,
)
from bot.intents.linear_head import fit_linear_head
from bot.intents.nearest import ExampleIndex
from bot.settings import Settings

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"
# A score maps (vectors, logits) to "how in-scope": higher is more in-scope.
Score = Callable[[np.ndarray, np.ndarray], np.ndarray]


def mahalanobis_score(vectors: np.ndarray, classes: np.ndarray, count: int) -> Score:
    """Minus the distance to the nearest class mean under one shrunk shared covariance."""
    means = np.stack([vectors[classes == c].mean(axis=0) for c in range(count)])
    precision = LedoitWolf().fit(vectors - means[classes]).precision_

    def score(queries: np.ndarray, _logits: np.ndarray) -> np.ndarray:
        distances = [
            np.einsum("ij,jk,ik->i", queries - mean, precision, queries - mean) for mean in means
        ]
        return np.asarray(-np.min(np.stack(distances, axis=1), axis=1))

    return score


def run(data: Path, oos_intents: int, budget: float, seed: int) -> dict[str, dict[str, float]]:
    train, test = load_examples(data / "train.csv"), load_examples(data / "test.csv")
    held_out = set(random.Random(seed).sample(sorted({e.label for e in test}), oos_intents))
    kept = [e for e in train if e.label not in held_out]
    embedder = make_embedder(Settings())
    vectors = embedder.encode([e.text for e in kept], show_progress=True)
    test_vectors = embedder.encode([e.text for e in test], show_progress=True)
    targets = np.array([e.label for e in kept])
    fit_idx, val_idx = validation_split(targets, 0.15, seed) or (None, None)
    if fit_idx is None:
        raise SystemExit("too few examples to split")
    weights, bias, labels = fit_linear_head(vectors[fit_idx], targets[fit_idx], 10.0)
    index = {label: i for i, label in enumerate(labels)}
    classes = np.array([index[t] for t in targets])
    val_logits = vectors[val_idx] @ weights.T + bias
    test_logits = test_vectors @ weights.T + bias
    temperature = fit_temperature(val_logits, classes[val_idx])
    val_correct = val_logits.argmax(axis=1) == classes[val_idx]
    is_oos = np.array([e.label in held_out for e in test])
    test_correct = np.array(
        [not o and labels[p] == e.label for p, e, o in zip(test_logits.argmax(1), test, is_oos)]
    )
    closed_set_accuracy = float(test_correct[~is_oos].mean())
    fit_vectors = vectors[fit_idx]
    examples = ExampleIndex(fit_vectors, classes[fit_idx], len(labels))

    def probabilities(logits: np.ndarray) -> np.ndarray:
        return softmax(logits, temperature)

    def knn_agreement(queries: np.ndarray, logits: np.ndarray, k: int = 10) -> np.ndarray:
        nearest = np.argsort(-(queries @ fit_vectors.T), axis=1)[:, :k]
        return np.asarray((classes[fit_idx][nearest] == logits.argmax(1)[:, None]).mean(1))

    scores: dict[str, Score] = {
        "max softmax": lambda q, z: probabilities(z).max(1),
        "negative entropy": lambda q, z: (probabilities(z) * np.log(probabilities(z) + 1e-12)).sum(
            1
        ),
        "energy": lambda q, z: temperature * logsumexp(z / temperature, axis=1),
        "max logit": lambda q, z: z.max(1),
        "nearest example": lambda q, z: (q @ fit_vectors.T).max(1),
        "nearest example of the predicted intent": lambda q, z: examples.nearest(q, z.argmax(1)),
        "10-NN label agreement": knn_agreement,
        "Mahalanobis (Ledoit-Wolf)": mahalanobis_score(fit_vectors, classes[fit_idx], len(labels)),
    }
    results = {}
    for name, score in scores.items():
        threshold = choose_oos_threshold(score(vectors[val_idx], val_logits), val_correct, budget)
        flagged = score(test_vectors, test_logits) < threshold
        in_scope = float((test_correct & ~flagged)[~is_oos].mean())
        results[name] = {
            "oos_recall": round(float(flagged[is_oos].mean()), 4),
            "oos_precision": round(float((flagged & is_oos).sum() / max(1, flagged.sum())), 4),
            "in_scope_drop_points": round(100 * (closed_set_accuracy - in_scope), 2),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--oos-intents", type=int, default=10)
    parser.add_argument("--budget", type=float, default=0.02, help="in-scope accuracy to spend")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    if not (args.data / "train.csv").is_file():
        raise SystemExit(f"BANKING77 not found at {args.data}; pass --data")
    results = run(args.data, args.oos_intents, args.budget, args.seed)
    for name, row in results.items():
        print(
            f"{name:42s} recall {row['oos_recall']:.3f}  precision {row['oos_precision']:.3f}"
            f"  in-scope drop {row['in_scope_drop_points']:+.2f} points"
        )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
