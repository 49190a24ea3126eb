"""What the grounding check compares an answer with, computed once per passage: its words,
numbers, and sentences and clauses with their embeddings."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from bot.generation.sentences import (
    has_negation,
    list_item_units,
    numbers_in,
    split_clauses,
    split_sentences,
)
from knowledge.analyzer import analyzer
from knowledge.embedder import Embedder


@dataclass(frozen=True)
class PassageFeatures:
    words: frozenset[str]
    numbers: frozenset[str]
    units: tuple[str, ...]  # sentences, then clauses
    unit_words: tuple[frozenset[str], ...]
    unit_negated: tuple[bool, ...]  # each unit's polarity, read once for every claim checked
    vectors: np.ndarray | None  # one row per unit


class PassageFeatureCache:
    """Features of the passages seen last (``size`` of them), safe to share between threads:
    the same knowledge-base passages come back turn after turn."""

    def __init__(self, embedder: Embedder | None, language: str = "en", size: int = 512) -> None:
        self.embedder = embedder
        self.language = language
        self.size = size
        self._cache: OrderedDict[str, PassageFeatures] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, passage: str) -> PassageFeatures:
        with self._lock:
            if passage in self._cache:
                self._cache.move_to_end(passage)
                return self._cache[passage]
        features = self._compute(passage)
        with self._lock:
            self._cache[passage] = features
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return features

    def _compute(self, passage: str) -> PassageFeatures:
        # Clauses as well as sentences: an answer often states one part of a long sentence
        # ("they must be unused"), which matches its clause far better than the whole.
        # A list item is read with its lead-in only: alone it would lose that polarity.
        items = list_item_units(passage)
        sentences = [items.get(s, s) for s in split_sentences(passage)]
        units = list(dict.fromkeys(sentences + split_clauses(passage)))
        analyze = analyzer(self.language)
        return PassageFeatures(
            words=frozenset(analyze(passage)),
            numbers=frozenset(numbers_in(passage)),
            units=tuple(units),
            unit_words=tuple(frozenset(analyze(u)) for u in units),
            unit_negated=tuple(has_negation(u) for u in units),
            vectors=self.embedder.encode(units) if self.embedder and units else None,
        )
