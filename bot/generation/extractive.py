"""The answer to fall back on: the sentences of the best passage closest to the question."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from bot.generation.sentences import LIST_ITEM, split_sentences
from knowledge.analyzer import analyzer
from knowledge.embedder import Embedder

EMPHASIS = re.compile(r"\*\*|__")


def extractive_answer(
    question: str,
    passage: str,
    *,
    embedder: Embedder | None = None,
    language: str = "en",
    max_sentences: int = 3,
    max_chars: int = 500,
) -> str:
    """Up to ``max_sentences`` sentences of ``passage``, the most relevant to ``question``,
    in the passage's own order (so that they still read as one text).

    Relevance is the cosine to the question (with an embedder) plus the share of the
    question's content words the sentence holds. Every sentence is the KB's own words, so
    the answer is grounded by construction.
    """
    sentences = split_sentences(passage)
    if not sentences:
        return passage.strip()
    relevance = _relevance(question, sentences, embedder, language)
    chosen: list[int] = []
    used = 0
    for index in np.argsort(-relevance, kind="stable"):
        length = len(sentences[index]) + 1
        if len(chosen) >= max_sentences or (chosen and used + length > max_chars):
            break
        chosen.append(int(index))
        used += length
    return " ".join(sentences[i] for i in sorted(chosen))


def answer_opening(
    question: str,
    passages: Sequence[str],
    *,
    embedder: Embedder | None = None,
    language: str = "en",
    words: int = 4,
) -> str | None:
    """The first ``words`` words of the passage sentence closest to ``question`` (list
    markers and emphasis dropped; headings, which end without a full stop, skipped): where
    a draft may be started when the model's own openings led nowhere."""
    cleaned = (
        EMPHASIS.sub("", LIST_ITEM.sub("", s)).strip() for p in passages for s in split_sentences(p)
    )
    sentences = [s for s in cleaned if s.endswith((".", "!", "?"))]
    if not sentences:
        return None
    best = sentences[int(np.argmax(_relevance(question, sentences, embedder, language)))]
    return " ".join(best.split()[:words])


def _relevance(
    question: str, sentences: Sequence[str], embedder: Embedder | None, language: str
) -> np.ndarray:
    """Per sentence: its cosine to the question (with an embedder) plus the share of the
    question's content words it holds."""
    words = analyzer(language)
    asked = set(words(question))
    lexical = np.array(
        [len(asked & set(words(s))) / len(asked) if asked else 0.0 for s in sentences]
    )
    if embedder is None:
        return lexical
    vectors = embedder.encode([question, *sentences])
    return vectors[1:] @ vectors[0] + lexical
