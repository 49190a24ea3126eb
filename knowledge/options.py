"""Names of the retrieval choices, importable without loading FAISS or BM25 (settings use them)."""

from __future__ import annotations

from enum import StrEnum


class RetrievalMode(StrEnum):
    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"


class IndexKind(StrEnum):
    AUTO = "auto"
    FLAT = "flat"
    IVF = "ivf"
