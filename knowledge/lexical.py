"""BM25 over chunk texts (``bm25s``), with scores normalised to [0, 1) per query.

Raw BM25 scores grow with the number and rarity of query words, so they cannot be compared
across queries or mixed with cosine similarity as they are. Each term's BM25 contribution
is at most its IDF (Lucene's form has no ``k1 + 1`` factor), so dividing by the sum of the
query terms' IDFs gives the share of the query's possible lexical evidence a chunk holds:
1 would mean every query word saturated in the chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from knowledge.analyzer import analyzer
from knowledge.documents import Chunk
from knowledge.errors import KnowledgeError

if TYPE_CHECKING:  # bm25s pulls in scipy: imported where used, so `kb build` stays quick
    import bm25s

CHUNK_IDS_FILE = "chunk_ids.npy"
SETTINGS_FILE = "lexical.json"


class LexicalIndex:
    """BM25 scores of chunks for a query; build it with :meth:`build` or :meth:`load`."""

    def __init__(self, bm25: bm25s.BM25, chunk_ids: np.ndarray, language: str) -> None:
        self._bm25 = bm25
        self.chunk_ids = chunk_ids
        self.language = language
        self._analyze = analyzer(language)
        self._positions: dict[int, int] | None = None
        # Document frequency of each vocabulary entry = its column's length in the CSC matrix.
        frequency = np.diff(np.asarray(bm25.scores["indptr"])).astype(np.float64)
        documents = float(bm25.scores["num_docs"])
        self._idf = np.log1p((documents - frequency + 0.5) / (frequency + 0.5))

    @classmethod
    def build(cls, chunks: Sequence[Chunk], language: str = "en") -> LexicalIndex:
        import bm25s

        analyze = analyzer(language)
        bm25 = bm25s.BM25()
        corpus = [analyze(chunk.embedding_text) for chunk in chunks]
        bm25.index(corpus, show_progress=False)
        return cls(bm25, np.array([chunk.id for chunk in chunks], dtype=np.int64), language)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def scores(self, query: str) -> np.ndarray:
        """Normalised BM25 score of every chunk, aligned with :attr:`chunk_ids`."""
        vocabulary = self._bm25.vocab_dict
        # Each distinct known word once: a repeated word would count twice in bm25s.
        token_ids = list(
            dict.fromkeys(vocabulary[t] for t in self._analyze(query) if t in vocabulary)
        )
        if not token_ids or len(self) == 0:
            return np.zeros(len(self), dtype=np.float32)
        ceiling = float(self._idf[token_ids].sum())
        raw = self._bm25.get_scores_from_ids(token_ids)
        return (np.asarray(raw, dtype=np.float32) / ceiling).astype(np.float32)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """``(chunk id, normalised score)`` of the ``k`` best chunks with a positive score."""
        return top_scores(self.chunk_ids, self.scores(query), k)

    def position(self, chunk_id: int) -> int:
        """Where ``chunk_id`` sits in :attr:`chunk_ids` (and so in a :meth:`scores` row)."""
        if self._positions is None:
            self._positions = {int(i): n for n, i in enumerate(self.chunk_ids)}
        return self._positions[chunk_id]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory), show_progress=False)
        np.save(directory / CHUNK_IDS_FILE, self.chunk_ids)
        (directory / SETTINGS_FILE).write_text(json.dumps({"language": self.language}), "utf-8")

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        try:
            settings = json.loads((directory / SETTINGS_FILE).read_text("utf-8"))
            bm25 = bm25s.BM25.load(str(directory), show_progress=False)
            chunk_ids = np.load(directory / CHUNK_IDS_FILE)
        except (OSError, ValueError) as exc:
            raise KnowledgeError(f"cannot read the lexical index in {directory}: {exc}") from exc
        return cls(bm25, chunk_ids, str(settings["language"]))


def top_scores(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best positive ``scores`` as ``(id, score)``, best first."""
    k = min(k, int(np.count_nonzero(scores > 0)))
    if k < 1:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(ids[i]), float(scores[i])) for i in best]
