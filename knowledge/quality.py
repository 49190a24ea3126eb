"""Retrieval quality on labelled queries: hit@k and MRR at document level, and the no-answer point."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge.retriever import Retriever, rank_documents
from knowledge.store import KnowledgeStore

# Passages fetched per query: several chunks of one document count once, and a document
# ranked below this depth counts as missed (reciprocal rank 0).
RANKING_DEPTH = 20


def ranking_metrics(
    retriever: Retriever, queries: Sequence[tuple[str, str]], depth: int = RANKING_DEPTH
) -> dict[str, float]:
    """hit@1, hit@5 and MRR of the expected document for ``(query, document id)`` pairs."""
    hits1 = hits5 = 0
    reciprocal = 0.0
    for query, expected in queries:
        ranked = rank_documents(retriever.run(query, depth))
        rank = ranked.index(expected) + 1 if expected in ranked else None
        hits1 += rank == 1
        hits5 += rank is not None and rank <= 5
        reciprocal += 1.0 / rank if rank else 0.0
    count = max(1, len(queries))
    return {
        "hit@1": round(hits1 / count, 4),
        "hit@5": round(hits5 / count, 4),
        "mrr": round(reciprocal / count, 4),
    }


@dataclass(frozen=True)
class NoAnswerPoint:
    """The top-passage score under which a question is better declined than answered."""

    min_score: float
    balanced_accuracy: float
    answerable: int
    unanswerable: int


def fit_min_score(answerable: Sequence[float], unanswerable: Sequence[float]) -> NoAnswerPoint:
    """The threshold on the top score that best separates the two groups.

    It maximises balanced accuracy (the mean of the share of answerable questions kept and
    of unanswerable ones declined), so neither group's size sways it; the threshold sits
    midway between the two scores it separates.
    """
    if not answerable or not unanswerable:
        raise ValueError("need top scores of both answerable and unanswerable questions")
    labelled = sorted([(s, True) for s in answerable] + [(s, False) for s in unanswerable])
    kept_unanswerable = len(unanswerable)  # with a threshold below everything
    best = (0.5, labelled[0][0] - 1e-6)
    declined_answerable = 0
    for position, (score, is_answerable) in enumerate(labelled):
        declined_answerable += is_answerable
        kept_unanswerable -= not is_answerable
        following = labelled[position + 1][0] if position + 1 < len(labelled) else score + 1e-6
        accuracy = (
            (len(answerable) - declined_answerable) / len(answerable)
            + (len(unanswerable) - kept_unanswerable) / len(unanswerable)
        ) / 2
        if accuracy > best[0]:
            best = (accuracy, (score + following) / 2)
    return NoAnswerPoint(round(best[1], 4), round(best[0], 4), len(answerable), len(unanswerable))


def held_out_no_answer_point(
    store: KnowledgeStore,
    make: Callable[[KnowledgeStore], Retriever],
    queries: Sequence[tuple[str, str]],
    *,
    seed: int = 0,
) -> NoAnswerPoint:
    """Fit the no-answer threshold by hiding half the documents, twice (two folds).

    A question whose document is hidden has no answer in the index: its top score is what
    an unanswerable question scores. The other questions are the answerable ones.
    """
    documents = sorted(store.document_checksums)
    random.Random(seed).shuffle(documents)
    halves = [set(documents[::2]), set(documents[1::2])]
    answerable: list[float] = []
    unanswerable: list[float] = []
    for kept in halves:
        retriever = make(store.subset(lambda chunk, kept=kept: chunk.document_id in kept))
        for query, expected in queries:
            passages = retriever.run(query, 1)
            top = passages[0].score if passages else 0.0
            (answerable if expected in kept else unanswerable).append(top)
    return fit_min_score(answerable, unanswerable)
