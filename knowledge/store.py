"""A knowledge base on disk: FAISS vectors with stable ids, chunk metadata and a manifest."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge.documents import Chunk
from knowledge.errors import IndexMismatchError, KnowledgeError
from knowledge.files import iter_jsonl, write_directory_atomically
from knowledge.files import read_manifest as read_json_manifest

FORMAT_VERSION = 1
INDEX_FILE = "vectors.faiss"
CHUNKS_FILE = "chunks.jsonl"
MANIFEST_FILE = "manifest.json"


class KnowledgeStore:
    """Exact inner-product search over normalised chunk vectors, keyed by chunk id."""

    def __init__(self, dimension: int, embedder_name: str) -> None:
        if dimension < 1:
            raise KnowledgeError(f"dimension must be positive, got {dimension}")
        self.dimension = dimension
        self.embedder_name = embedder_name
        self.chunks: dict[int, Chunk] = {}
        self.document_checksums: dict[str, str] = {}
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise KnowledgeError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if len(chunks) == 0:
            return
        if vectors.shape[1] != self.dimension:
            raise KnowledgeError(
                f"vectors have dimension {vectors.shape[1]}, index has {self.dimension}"
            )
        ids = np.array([chunk.id for chunk in chunks], dtype=np.int64)
        duplicate = next((c for c in chunks if c.id in self.chunks), None)
        if duplicate is not None:
            raise KnowledgeError(
                f"chunk {duplicate.id} of {duplicate.document_id!r} is already indexed"
            )
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self.chunks.update((chunk.id, chunk) for chunk in chunks)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """The ``k`` chunks most similar to ``vector`` (shape ``(dimension,)``), best first."""
        if len(self) == 0 or k < 1:
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        scores, ids = self._index.search(query, min(k, len(self)))
        return [
            (self.chunks[int(chunk_id)], float(score))
            for chunk_id, score in zip(ids[0], scores[0], strict=True)
            if chunk_id != -1
        ]

    def manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "embedder": self.embedder_name,
            "dimension": self.dimension,
            "normalized": True,
            "metric": "inner_product",
            "index_type": "IDMap2,Flat",
            "documents": len(self.document_checksums),
            "chunks": len(self),
            "document_checksums": self.document_checksums,
        }

    def save(self, directory: Path) -> None:
        """Write the store to ``directory`` atomically: readers never see half a store."""

        def write(staging: Path) -> None:
            faiss.write_index(self._index, str(staging / INDEX_FILE))
            with (staging / CHUNKS_FILE).open("w", encoding="utf-8") as handle:
                for chunk in self.chunks.values():
                    handle.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
            (staging / MANIFEST_FILE).write_text(json.dumps(self.manifest(), indent=2), "utf-8")

        write_directory_atomically(directory, write)

    @classmethod
    def load(cls, directory: Path, expected_embedder: str | None = None) -> KnowledgeStore:
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest is None:
            raise KnowledgeError(
                f"no knowledge index in {directory}; run `supportbot kb build` first"
            )
        if expected_embedder is not None and manifest["embedder"] != expected_embedder:
            raise IndexMismatchError(
                f"the index in {directory} was built with embedder {manifest['embedder']!r}, "
                f"but {expected_embedder!r} is configured; rebuild it with `supportbot kb build`"
            )
        store = cls(int(manifest["dimension"]), str(manifest["embedder"]))
        store._index = faiss.read_index(str(directory / INDEX_FILE))
        for _, record in iter_jsonl(directory / CHUNKS_FILE):
            chunk = Chunk(**record)
            store.chunks[chunk.id] = chunk
        store.document_checksums = dict(manifest.get("document_checksums", {}))
        if len(store.chunks) != len(store):
            raise KnowledgeError(
                f"{directory} is inconsistent: {len(store.chunks)} chunks, {len(store)} vectors"
            )
        return store


def read_manifest(directory: Path) -> dict[str, Any] | None:
    return read_json_manifest(Path(directory) / MANIFEST_FILE, "format_version", FORMAT_VERSION)
