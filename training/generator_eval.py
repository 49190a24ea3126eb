"""Answer quality on held-out demo questions: grounded drafts, ROUGE-L, extractive fallbacks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence

import numpy as np

from bot.generation.answerer import GroundedAnswerer
from bot.generation.answers import FinalAnswer
from bot.generation.prompt import PromptPassage
from knowledge.retriever import Retriever
from training.generator_data import GeneratorItem
from training.generator_dataset import passages_for

WORD = re.compile(r"[a-z0-9$%]+")


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (longest common subsequence)."""
    a, b = WORD.findall(candidate.lower()), WORD.findall(reference.lower())
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


async def _answer(
    answerer: GroundedAnswerer, item: GeneratorItem, passages: Sequence[PromptPassage]
) -> FinalAnswer:
    final = None
    async for event in answerer.answer(item.question, passages, item.history):
        if isinstance(event, FinalAnswer):
            final = event
    assert final is not None  # the answerer always ends with a FinalAnswer
    return final


def evaluate_answers(
    items: Sequence[GeneratorItem], retriever: Retriever, answerer: GroundedAnswerer
) -> dict[str, object]:
    """``grounded_rate``: answers whose draft passed the check whole (a second draft where
    the first was rejected before anything was shown: ``redrafted_rate`` of them, of which
    ``started_rate`` were started with a passage's words);
    ``fallback_rate``: answers that ended extractive (unsupported, off the question, a
    decline the passages answer, timeout or error); ``rouge_l``: of the final answers;
    ``answer_ms``: p50 and p90 of the time to the final answer, second drafts included."""
    grounded = fallbacks = redrafted = opened = declined_right = unanswerable = 0
    rouge = 0.0
    seconds: list[float] = []
    for item in items:
        passages = [PromptPassage.of(p.chunk) for p in passages_for(item, retriever)]
        started = time.perf_counter()
        final = asyncio.run(_answer(answerer, item, passages))
        seconds.append(time.perf_counter() - started)
        grounded += final.generated
        fallbacks += not final.generated
        redrafted += final.generated and final.redrafted
        opened += final.generated and bool(final.started_with)
        rouge += rouge_l(final.text, item.answer)
        if not item.answerable:
            unanswerable += 1
            declined_right += final.declined
    count = max(len(items), 1)
    return {
        "items": len(items),
        "grounded_rate": round(grounded / count, 4),
        "rouge_l": round(rouge / count, 4),
        "fallback_rate": round(fallbacks / count, 4),
        "redrafted_rate": round(redrafted / count, 4),
        "started_rate": round(opened / count, 4),
        "unanswerable_declined_rate": round(declined_right / max(unanswerable, 1), 4),
        "answer_ms": {
            "p50": round(float(np.percentile(seconds, 50)) * 1000) if seconds else None,
            "p90": round(float(np.percentile(seconds, 90)) * 1000) if seconds else None,
        },
    }
