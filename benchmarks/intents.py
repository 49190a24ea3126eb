"""BANKING77 intent benchmark: accuracy, macro-F1, training time, single-message latency, OOS.

    python benchmarks/intents.py [--data ../shared/data/banking77] [--tune-layers 2] [--json]

``--tune-layers 0`` trains a logistic-regression head on frozen embeddings instead of
fine-tuning the embedder's top layers. Latency is measured on the serving configuration
(the embedder runtime from the settings: ONNX by default).

The out-of-scope part removes a seeded sample of intents from training; their test messages
must then be flagged out of scope by the threshold the model chose on its own validation split.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from threadpoolctl import threadpool_limits

from bot.embedding import make_embedder
from bot.intents import IntentClassifier, load_examples
from bot.intents.tuning import TuningConfig, tuning_for
from bot.settings import Settings
from training.evaluation import oos_metrics

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"
OOS_LABEL = "oos"


def percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(samples) * 1000, q)), 2)


def run(
    data: Path,
    latency_samples: int,
    oos_intents: int,
    seed: int,
    tuning: TuningConfig | None,
    model_dir: Path | None = None,
    save_dir: Path | None = None,
) -> dict[str, object]:
    train = load_examples(data / "train.csv")
    test = load_examples(data / "test.csv")
    embedder = make_embedder(Settings())
    embedder.warm_up()

    started = time.perf_counter()
    if model_dir is not None:
        # A model saved by an earlier run (--save): measure it again without retraining.
        classifier = IntentClassifier.load(model_dir, embedder)
        train_seconds = float(classifier.manifest.get("train_seconds", 0.0))
    else:
        classifier = IntentClassifier(embedder, tuning=tuning).fit(
            [e.text for e in train], [e.label for e in train], show_progress=True
        )
        train_seconds = time.perf_counter() - started
        if save_dir is not None:
            classifier.save(save_dir, train_seconds=round(train_seconds, 1))
    probabilities = classifier.predict_proba([e.text for e in test])
    predicted = [classifier.labels[i] for i in probabilities.argmax(axis=1)]
    gold = [e.label for e in test]

    timings = []
    # As in a serving process (bot.runtime.limit_blas_threads): BLAS on one thread next to torch.
    with threadpool_limits(limits=1, user_api="blas"):
        for example in random.Random(seed).sample(test, min(latency_samples, len(test))):
            started = time.perf_counter()
            classifier.predict(example.text)
            timings.append(time.perf_counter() - started)

    result: dict[str, object] = {
        "model": classifier.kind,
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro")), 4),
        "train_seconds": round(train_seconds, 1),
        "predict_p50_ms": percentile_ms(timings, 50),
        "predict_p95_ms": percentile_ms(timings, 95),
        "predict_mean_ms": round(statistics.mean(timings) * 1000, 2),
        "embedder_runtime": "onnx" if embedder.uses_onnx else "torch",
        "validation_ece_before": classifier.validation.get("ece_before_calibration"),
        "validation_ece_after": classifier.validation.get("ece_after_calibration"),
        "temperature": round(classifier.temperature, 4),
    }
    if oos_intents:
        result.update(out_of_scope(embedder, train, test, oos_intents, seed, tuning))
    return result


def out_of_scope(
    embedder: object,
    train: list,
    test: list,
    oos_intents: int,
    seed: int,
    tuning: TuningConfig | None,
) -> dict[str, object]:
    """Retrain without ``oos_intents`` intents; their test messages must be flagged."""
    gold = [e.label for e in test]
    held_out = set(random.Random(seed).sample(sorted(set(gold)), oos_intents))
    scoped = IntentClassifier(embedder, tuning=tuning).fit(  # type: ignore[arg-type]
        [e.text for e in train if e.label not in held_out],
        [e.label for e in train if e.label not in held_out],
        show_progress=True,
    )
    scoped_probabilities = scoped.predict_proba([e.text for e in test])
    closed_set = [scoped.labels[i] for i in scoped_probabilities.argmax(axis=1)]
    flagged = scoped.is_out_of_scope([e.text for e in test])
    open_set = [OOS_LABEL if f else p for p, f in zip(closed_set, flagged, strict=True)]
    scoped_gold = [OOS_LABEL if g in held_out else g for g in gold]
    in_scope = [(g, p) for g, p in zip(scoped_gold, closed_set, strict=True) if g != OOS_LABEL]
    oos = oos_metrics(scoped_gold, open_set, OOS_LABEL, scoped.oos_threshold)
    return {
        "oos_held_out_intents": len(held_out),
        "oos_recall": oos["oos_recall"],
        "oos_precision": oos["oos_precision"],
        "in_scope_accuracy": oos["in_scope_accuracy"],
        "in_scope_accuracy_without_oos": round(sum(g == p for g, p in in_scope) / len(in_scope), 4),
        "oos_confidence_threshold": oos["oos_confidence_threshold"],
        "oos_similarity_threshold": round(scoped.similarity_threshold, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with train.csv and test.csv"
    )
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--oos-intents", type=int, default=10, help="intents removed from training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tune-layers",
        type=int,
        default=TuningConfig().layers,
        help="top embedder layers to fine-tune (0: logistic regression on frozen embeddings)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
    parser.add_argument("--save", type=Path, default=None, help="save the trained model here")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="load a model saved with --save instead of training",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on the last line"
    )
    args = parser.parse_args()
    if not (args.data / "train.csv").exists():
        print(f"skipped: BANKING77 not found at {args.data}", file=sys.stderr)
        if args.json:
            print(json.dumps({"skipped": f"no data at {args.data}"}))
        return
    tuning = tuning_for(args.tune_layers, args.epochs)
    result = run(
        args.data,
        args.latency_samples,
        args.oos_intents,
        args.seed,
        tuning,
        model_dir=args.model,
        save_dir=args.save,
    )
    if args.json:
        print(json.dumps(result))
        return
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
