"""Choose the grounding check's support threshold on the demo TRAIN items only.

Each checked sentence of a reference answer is scored against the passages of its own
article (it is supported by construction) and against the passages of the other article
that backs it best (it should not be). The threshold keeps ``keep`` of the supported
sentences; the report says how many unsupported ones it rejects.

    python -m training.grounding_calibration demo/generator/train.yml --kb demo/kb
    python -m training.grounding_calibration --references demo/generator/heldout.yml
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from bot.generation.grounding import GroundingChecker
from bot.generation.prompt import PromptPassage
from knowledge.chunking import chunk_document
from knowledge.embedder import Embedder
from knowledge.loaders import load_sources
from training.generator_data import iter_article_items, load_generator_items


def article_passages(kb_dir: Path) -> dict[str, list[str]]:
    passages: dict[str, list[str]] = defaultdict(list)
    for document in load_sources([kb_dir]).documents:
        for chunk in chunk_document(document):
            passages[document.id].append(
                PromptPassage(document.title, chunk.text, chunk.section).grounding_text()
            )
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


def reference_ceiling(
    items_file: Path, kb_dir: Path, embedder: Embedder, checker: GroundingChecker | None = None
) -> dict[str, object]:
    """How often the written reference answers themselves pass the check, against the
    passages a model is shown for them (the benchmark's passages): the most a generator
    could score. Answers that fail it point at the data or the check, not the model.
    """
    import tempfile

    from knowledge.builder import build_index
    from knowledge.modes import make_retriever
    from knowledge.store import KnowledgeStore
    from training.generator_dataset import passages_for

    checker = checker or GroundingChecker(embedder)
    items = load_generator_items(items_file)
    failures: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as index_dir:
        build_index([kb_dir], embedder, Path(index_dir), progress=False)
        store = KnowledgeStore.load(Path(index_dir), expected_embedder=embedder.name)
        retriever = make_retriever(store, embedder, "hybrid")
        for item in items:
            shown = [
                PromptPassage(p.chunk.title, p.chunk.text, p.chunk.section).grounding_text()
                for p in passages_for(item, retriever)
            ]
            report = checker.check(item.answer, shown)
            if not report.supported:
                failures.append(
                    {
                        "question": item.question,
                        "unsupported": [
                            {
                                "sentence": s.text,
                                "score": s.score,
                                "missing_numbers": list(s.missing_numbers),
                                "negation_flipped": s.flips_negation,
                            }
                            for s in report.sentences
                            if not s.supported(checker.threshold)
                        ],
                    }
                )
    return {
        "items": len(items),
        "references_supported": round(1 - len(failures) / max(len(items), 1), 4),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path, nargs="?", default=Path("demo/generator/train.yml"))
    parser.add_argument("--kb", type=Path, default=Path("demo/kb"))
    parser.add_argument("--keep", type=float, default=0.97)
    parser.add_argument(
        "--references",
        type=Path,
        default=None,
        help="instead: check this file's reference answers against their shown passages",
    )
    args = parser.parse_args()
    embedder = Embedder()
    if args.references:
        print(json.dumps(reference_ceiling(args.references, args.kb, embedder), indent=1))
        return
    print(json.dumps(calibrate(args.train, args.kb, embedder, keep=args.keep)))


if __name__ == "__main__":
    main()
