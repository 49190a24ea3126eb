"""The answer to fall back on: the sentences of the best passage closest to the question."""

from __future__ import annotations

import numpy as np

from bot.generation.sentences import split_sentences
from knowledge.analyzer import analyzer
from knowledge.embedder import Embedder


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
    words = analyzer(language)
    asked = set(words(question))
    lexical = np.array(
        [len(asked & set(words(s))) / len(asked) if asked else 0.0 for s in sentences]
    )
    if embedder is not None:
        vectors = embedder.encode([question, *sentences])
        relevance = vectors[1:] @ vectors[0] + lexical
    else:
        relevance = lexical
    chosen: list[int] = []
    used = 0
    for index in np.argsort(-relevance, kind="stable"):
        length = len(sentences[index]) + 1
        if len(chosen) >= max_sentences or (chosen and used + length > max_chars):
            break
        chosen.append(int(index))
        used += length
    return " ".join(sentences[i] for i in sorted(chosen))
