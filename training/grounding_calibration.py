"""Choose the grounding check's support threshold on the demo TRAIN items only.

Each checked sentence of a reference answer is scored against the passages of its own
article (it is supported by construction) and against the passages of the other article
that backs it best (it should not be). The threshold keeps ``keep`` of the supported
sentences; the report says how many unsupported ones it rejects.

    python -m training.grounding_calibration demo/generator/train.yml --kb demo/kb
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from bot.generation.grounding import GroundingChecker
from knowledge.chunking import chunk_document
from knowledge.embedder import Embedder
from knowledge.loaders import load_sources
from training.generator_data import iter_article_items, load_generator_items


def article_passages(kb_dir: Path) -> dict[str, list[str]]:
    passages: dict[str, list[str]] = defaultdict(list)
    for document in load_sources([kb_dir]).documents:
        for chunk in chunk_document(document):
            passages[document.id].append(chunk.text)
    return dict(passages)


def calibrate(
    train_file: Path, kb_dir: Path, embedder: Embedder, *, keep: float = 0.97
) -> dict[str, object]:
    by_article = article_passages(kb_dir)
    checker = GroundingChecker(embedder, threshold=0.0)
    positives: list[float] = []
    negatives: list[float] = []
    flipped = 0  # supported sentences the negation rule would reject
    for item in iter_article_items(load_generator_items(train_file)):
        own = by_article[item.article or ""]
        for sentence in checker.check(item.answer, own).sentences:
            if not sentence.checked:
                continue
            positives.append(sentence.score)
            flipped += sentence.flips_negation or bool(sentence.missing_numbers)
            others = [
                checker.support(sentence.text, passages)
                for article, passages in by_article.items()
                if article != item.article
            ]
            hardest = max(others, key=lambda s: s.score)
            # A sentence whose figures are missing elsewhere, or whose negation is flipped, is
            # rejected by those rules
            # whatever its score; only the score decides the rest.
            rejected_by_rule = hardest.missing_numbers or hardest.flips_negation
            negatives.append(0.0 if rejected_by_rule else hardest.score)
    pos, neg = np.array(positives), np.array(negatives)
    threshold = float(np.quantile(pos, 1 - keep))
    return {
        "threshold": round(threshold, 3),
        "supported_sentences": len(pos),
        "supported_kept": round(float(np.mean(pos >= threshold)), 4),
        "unsupported_rejected": round(float(np.mean(neg < threshold)), 4),
        "supported_rejected_by_rules": flipped,
        "positive_median": round(float(np.median(pos)), 3),
        "negative_median": round(float(np.median(neg)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path, nargs="?", default=Path("demo/generator/train.yml"))
    parser.add_argument("--kb", type=Path, default=Path("demo/kb"))
    parser.add_argument("--keep", type=float, default=0.97)
    args = parser.parse_args()
    embedder = Embedder()
    print(json.dumps(calibrate(args.train, args.kb, embedder, keep=args.keep)))


if __name__ == "__main__":
    main()
