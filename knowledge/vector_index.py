"""FAISS vectors under stable 63-bit ids, with the index type chosen by size.

- ``flat``: exact inner product (``IndexIDMap2(IndexFlatIP)``); the default for small bases,
  where a full scan is already fast and recall is perfect.
- ``ivf``: an inverted file over k-means cells (``IndexIVFFlat`` with a hash-table direct
  map). It stores full vectors, so scores are exact for the cells it visits; only cells far
  from the query are skipped. HNSW was not chosen: FAISS cannot delete ids from an HNSW
  graph, and documents must be removable without a rebuild.

Both support add, remove and reconstruct by id, so the knowledge base is updated in place.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge.errors import KnowledgeError
from knowledge.options import IndexKind

__all__ = ["IndexKind", "VectorIndex", "choose_kind", "limit_search_threads"]

# Up to here an exact scan of 384-d vectors answers in about 3 ms on one core (10k: p50
# ~1.5 ms; benchmarks/retrieval.py), so approximation buys nothing.
FLAT_MAX_VECTORS = 20_000
# Cells visited per query: with ~2 * sqrt(n) cells, 16 of them scan ~0.8% of 1M vectors
# (p50 2 ms on one core, recall@10 0.9999 against exact search; 32 cells: 3.3 ms, the same
# recall). benchmarks/retrieval.py --nprobe N measures other values.
DEFAULT_NPROBE = 16
# k-means needs a few dozen points per cell; more only slows training.
TRAINING_POINTS_PER_LIST = 64


def choose_kind(vectors: int, requested: IndexKind | str = IndexKind.AUTO) -> IndexKind:
    """The kind to build for ``vectors`` vectors: ``requested`` unless it is ``auto``."""
    kind = IndexKind(requested)
    if kind is not IndexKind.AUTO:
        return kind
    return IndexKind.FLAT if vectors <= FLAT_MAX_VECTORS else IndexKind.IVF


def ivf_lists_for(vectors: int) -> int:
    """About 2 * sqrt(n) cells, and never more than n / 39 (k-means needs points per cell).

    FAISS suggests 4-16 * sqrt(n); half of the low end trains 4x faster (k-means cost grows
    with cells x training points) and, with ``DEFAULT_NPROBE`` cells visited, still reaches
    recall@10 0.9999 on clustered data.
    """
    return max(1, min(int(2 * math.sqrt(vectors)), vectors // 39))


class VectorIndex:
    """Normalised vectors searched by inner product, each under a caller-chosen id."""

    def __init__(self, index: Any, kind: IndexKind) -> None:
        self._index = index
        self.kind = kind

    @classmethod
    def empty_flat(cls, dimension: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)), IndexKind.FLAT)

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray,
        kind: IndexKind | str = IndexKind.AUTO,
        *,
        nprobe: int = DEFAULT_NPROBE,
        seed: int = 0,
    ) -> VectorIndex:
        """An index over ``vectors`` (rows) under ``ids``, trained first when it is an IVF."""
        vectors = _as_matrix(vectors)
        chosen = choose_kind(len(vectors), kind)
        if chosen is IndexKind.FLAT:
            index = cls.empty_flat(vectors.shape[1])
        else:
            index = cls(_trained_ivf(vectors, seed), IndexKind.IVF)
            index.nprobe = nprobe
        index.add(vectors, ids)
        return index

    @classmethod
    def read(cls, path: Path) -> VectorIndex:
        index = faiss.read_index(str(path))
        kind = IndexKind.IVF if isinstance(index, faiss.IndexIVF) else IndexKind.FLAT
        return cls(index, kind)

    def write(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def nprobe(self) -> int | None:
        return int(self._index.nprobe) if self.kind is IndexKind.IVF else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind is IndexKind.IVF:
            self._index.nprobe = max(1, min(int(value), int(self._index.nlist)))

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the index."""
        if self.kind is IndexKind.IVF:
            return {"index_type": "IVFFlat", "nlist": int(self._index.nlist), "nprobe": self.nprobe}
        return {"index_type": "IDMap2,Flat"}

    def serialized_bytes(self) -> int:
        """Size of everything the index holds (vectors, ids, lists, direct map)."""
        return int(faiss.serialize_index(self._index).nbytes)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        vectors = _as_matrix(vectors)
        if vectors.shape[1] != self.dimension:
            raise KnowledgeError(
                f"vectors have dimension {vectors.shape[1]}, index has {self.dimension}"
            )
        if len(vectors):
            self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors under ``ids``; returns how many were there."""
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)`` of shape ``(len(queries), k)``, best first; missing hits have id -1."""
        return self._index.search(_as_matrix(queries), k)  # type: ignore[no-any-return]

    def reconstruct(self, ids: list[int]) -> np.ndarray:
        """The stored vectors under ``ids`` (each must exist)."""
        if not ids:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._index.reconstruct(int(i)) for i in ids])


def _trained_ivf(vectors: np.ndarray, seed: int) -> Any:
    dimension = vectors.shape[1]
    lists = ivf_lists_for(len(vectors))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    sample_size = min(len(vectors), lists * TRAINING_POINTS_PER_LIST)
    sample = vectors[np.random.default_rng(seed).choice(len(vectors), sample_size, replace=False)]
    index.cp.seed = seed
    index.train(sample)
    # A hash-table direct map lets vectors be reconstructed and removed by their own ids.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    return index


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    return matrix.reshape(1, -1) if matrix.ndim == 1 else matrix


def limit_search_threads(threads: int = 1) -> None:
    """FAISS threads for this process. A serving process asks one question at a time, which a
    second thread cannot speed up but can slow down: on a busy 2-core machine the query
    waits for it at OpenMP barriers (p50 8 ms instead of 0.1 ms; benchmarks/retrieval.py)."""
    faiss.omp_set_num_threads(threads)
