"""Choose the grounding check's support threshold on the demo TRAIN items only.

Each checked sentence of a reference answer is scored against the passages of its own
article (it is supported by construction) and against the passages of the other article
that backs it best (it should not be). The threshold keeps ``keep`` of the supported
sentences; the report says how many unsupported ones it rejects.

    python -m training.grounding_calibration demo/generator/train.yml --kb demo/kb
    python -m training.grounding_calibration --references demo/generator/heldout.yml
    python -m training.grounding_calibration --relevance [--keep 0.95]
    python -m training.grounding_calibration --answered [--keep 0.97]

``--relevance`` chooses the relevance threshold the same way: each reference answer's first
claim against its own question (relevant) and against the other questions about the same
article (answers grounded in the right passages, but to another question). ``--answered``
chooses the coverage above which a decline is not accepted: ``keep`` of the unanswerable
questions' shown passages stay below it; the report says how many answerable ones reach it.
It also gives the coverage a started draft needs (``started_threshold``): where the share of
answerable questions reaching it most exceeds the share of unanswerable ones (Youden's J).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bot.generation.grounding import (
    ANSWERED_THRESHOLD,
    RELEVANCE_THRESHOLD,
    STARTED_THRESHOLD,
    SUPPORT_THRESHOLD,
    GroundingChecker,
)
from bot.generation.prompt import PromptPassage
from bot.generation.sentences import says_not_known
from knowledge.chunking import chunk_document
from knowledge.embedder import Embedder
from knowledge.loaders import load_sources
from training.generator_data import GeneratorItem, iter_article_items, load_generator_items


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
            # rejected by those rules whatever its score; only the score decides the rest.
            rejected_by_rule = hardest.missing_numbers or hardest.flips_negation
            negatives.append(0.0 if rejected_by_rule else hardest.score)
    report = threshold_report(positives, negatives, keep, SUPPORT_THRESHOLD)
    return {**report, "supported_rejected_by_rules": flipped}


def threshold_report(
    positives: list[float], negatives: list[float], keep: float, shipped: float
) -> dict[str, object]:
    """The threshold keeping ``keep`` of ``positives``, and how it and the ``shipped`` one
    split the positives (kept) and negatives (rejected)."""
    pos, neg = np.array(positives), np.array(negatives)
    threshold = float(np.quantile(pos, 1 - keep))
    return {
        "threshold": round(threshold, 3),
        "kept": round(float(np.mean(pos >= threshold)), 4),
        "rejected": round(float(np.mean(neg < threshold)), 4),
        "shipped_threshold": shipped,
        "shipped_kept": round(float(np.mean(pos >= shipped)), 4),
        "shipped_rejected": round(float(np.mean(neg < shipped)), 4),
        "positives": len(pos),
        "negatives": len(neg),
        "positive_median": round(float(np.median(pos)), 3),
        "negative_median": round(float(np.median(neg)), 3),
    }


def first_claim(answer: str, checker: GroundingChecker, passages: list[str]) -> str | None:
    """The answer up to its first checked sentence (reply words before it included)."""
    opening: list[str] = []
    for sentence in checker.check(answer, passages).sentences:
        opening.append(sentence.text)
        if sentence.checked:
            return " ".join(opening)
    return None


def calibrate_relevance(
    train_file: Path, kb_dir: Path, embedder: Embedder, *, keep: float = 0.95
) -> dict[str, object]:
    by_article = article_passages(kb_dir)
    checker = GroundingChecker(embedder)
    items = list(iter_article_items(load_generator_items(train_file)))
    claims = [first_claim(i.answer, checker, by_article[i.article or ""]) for i in items]
    positives: list[float] = []
    negatives: list[float] = []
    for item, claim in zip(items, claims, strict=True):
        own = by_article[item.article or ""]
        score = checker.relevance(item.question, claim, own) if claim else None
        if score is None:
            continue
        positives.append(score)
        for other, other_claim in zip(items, claims, strict=True):
            if other is not item and other.article == item.article and other_claim:
                negative = checker.relevance(item.question, other_claim, own)
                negatives.append(negative if negative is not None else 1.0)
    return threshold_report(positives, negatives, keep, RELEVANCE_THRESHOLD)


def calibrate_answered(
    train_file: Path, kb_dir: Path, embedder: Embedder, *, keep: float = 0.97
) -> dict[str, object]:
    checker = GroundingChecker(embedder)
    answerable: list[float] = []
    unanswerable: list[float] = []
    for item, shown in _shown_passages(load_generator_items(train_file), kb_dir, embedder):
        score = checker.coverage(item.question, shown)
        if score is not None:
            (answerable if item.answerable else unanswerable).append(score)
    yes, no = np.array(answerable), np.array(unanswerable)
    threshold = float(np.quantile(no, keep))
    started = best_separating(yes, no)
    return {
        "answered_threshold": round(threshold, 3),
        "unanswerable_below": round(float(np.mean(no < threshold)), 4),
        "answerable_reaching": round(float(np.mean(yes >= threshold)), 4),
        "shipped_threshold": ANSWERED_THRESHOLD,
        "shipped_unanswerable_below": round(float(np.mean(no < ANSWERED_THRESHOLD)), 4),
        "shipped_answerable_reaching": round(float(np.mean(yes >= ANSWERED_THRESHOLD)), 4),
        "started_threshold": round(started, 3),
        "started_answerable_reaching": round(float(np.mean(yes >= started)), 4),
        "started_unanswerable_reaching": round(float(np.mean(no >= started)), 4),
        "shipped_started_threshold": STARTED_THRESHOLD,
        "answerable": len(yes),
        "unanswerable": len(no),
    }


def best_separating(yes: np.ndarray, no: np.ndarray) -> float:
    """The score at which the share of ``yes`` reaching it most exceeds that of ``no``."""
    candidates = np.unique(np.concatenate([yes, no]))
    gains = [float(np.mean(yes >= t) - np.mean(no >= t)) for t in candidates]
    return float(candidates[int(np.argmax(gains))])


def _shown_passages(
    items: list[GeneratorItem], kb_dir: Path, embedder: Embedder
) -> Iterator[tuple[GeneratorItem, list[str]]]:
    """Each item with the passages a model is shown for it (as the benchmark finds them)."""
    import tempfile

    from knowledge.builder import build_index
    from knowledge.modes import make_retriever
    from knowledge.store import KnowledgeStore
    from training.generator_dataset import passages_for

    with tempfile.TemporaryDirectory() as index_dir:
        build_index([kb_dir], embedder, Path(index_dir), progress=False)
        store = KnowledgeStore.load(Path(index_dir), expected_embedder=embedder.name)
        retriever = make_retriever(store, embedder, "hybrid")
        for item in items:
            yield (
                item,
                [PromptPassage.of(p.chunk).grounding_text() for p in passages_for(item, retriever)],
            )


def reference_ceiling(
    items_file: Path, kb_dir: Path, embedder: Embedder, checker: GroundingChecker | None = None
) -> dict[str, object]:
    """How often the written reference answers themselves pass the check (support, the
    first claim's relevance, no decline where the passages answer), against the passages a model is shown for them (the
    benchmark's passages): the most a generator could score. Answers that fail it point at
    the data or the check, not the model.
    """
    checker = checker or GroundingChecker(embedder)
    items = load_generator_items(items_file)
    failures: list[dict[str, object]] = []
    for item, shown in _shown_passages(items, kb_dir, embedder):
        report = checker.check(item.answer, shown)
        claim = first_claim(item.answer, checker, shown)
        on_topic = claim is None or checker.answers(item.question, claim, shown)
        declines = any(says_not_known(s.text) for s in report.sentences)
        wrong_decline = declines and checker.must_answer(item.question, shown)
        if report.supported and on_topic and not wrong_decline:
            continue
        failures.append(
            {
                "question": item.question,
                "off_topic": not on_topic,
                "decline_not_accepted": wrong_decline,
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
    parser.add_argument(
        "--keep", type=float, default=None, help="default 0.97; 0.95 with --relevance"
    )
    parser.add_argument("--relevance", action="store_true", help="the relevance threshold instead")
    parser.add_argument("--answered", action="store_true", help="the decline threshold instead")
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
    if args.answered:
        result = calibrate_answered(args.train, args.kb, embedder, keep=args.keep or 0.97)
    elif args.relevance:
        result = calibrate_relevance(args.train, args.kb, embedder, keep=args.keep or 0.95)
    else:
        result = calibrate(args.train, args.kb, embedder, keep=args.keep or 0.97)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
