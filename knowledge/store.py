"""A knowledge base on disk: FAISS vectors with stable ids, chunk metadata, BM25 and a manifest.

Every chunk has a vector under its own id. The first chunk of a titled document also has
a second vector, of the title alone: users phrase questions the way FAQ titles are phrased,
and a long answer dilutes the title's meaning in the chunk's own vector (StackFAQ: MRR
0.961 -> 0.976 with title vectors; benchmarks/retrieval.py). A chunk's dense score is the
best of its vectors.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.documents import Chunk
from knowledge.errors import IndexMismatchError, KnowledgeError, UnknownDocumentError
from knowledge.files import iter_jsonl, write_directory_atomically
from knowledge.files import read_manifest as read_json_manifest
from knowledge.lexical import LexicalIndex
from knowledge.vector_index import IndexKind, VectorIndex

FORMAT_VERSION = 2
INDEX_FILE = "vectors.faiss"
CHUNKS_FILE = "chunks.jsonl"
MANIFEST_FILE = "manifest.json"
LEXICAL_DIR = "bm25"
# A title vector's id is its chunk's id with this bit flipped (so flipping it back finds the chunk).
TITLE_VECTOR_BIT = 1 << 62


def title_vector_id(chunk_id: int) -> int:
    return chunk_id ^ TITLE_VECTOR_BIT


class KnowledgeStore:
    """Chunks, their vectors and the lexical index, kept in step through add and remove."""

    def __init__(
        self, dimension: int, embedder_name: str, *, index_kind: IndexKind | str = IndexKind.AUTO
    ) -> None:
        if dimension < 1:
            raise KnowledgeError(f"dimension must be positive, got {dimension}")
        self.dimension = dimension
        self.embedder_name = embedder_name
        self.index_kind = IndexKind(index_kind)
        self.chunks: dict[int, Chunk] = {}
        self.document_checksums: dict[str, str] = {}
        self.titled: set[int] = set()  # chunks that also have a title vector
        self._vectors = VectorIndex.empty_flat(dimension)
        self._lexical: LexicalIndex | None = None

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def vectors(self) -> VectorIndex:
        return self._vectors

    @property
    def language(self) -> str:
        """The most common chunk language, which the lexical analyzer follows."""
        counts = Counter(chunk.language for chunk in self.chunks.values())
        return counts.most_common(1)[0][0] if counts else "en"

    def add(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        *,
        titled: list[int] | None = None,
        title_vectors: np.ndarray | None = None,
    ) -> None:
        """Add ``chunks`` with their ``vectors``; ``titled`` chunk ids get ``title_vectors`` too.

        The first add to an empty store builds the index, choosing its kind by size.
        """
        titled = titled or []
        title_vectors = (
            np.zeros((0, self.dimension), np.float32) if title_vectors is None else title_vectors
        )
        if len(chunks) != len(vectors):
            raise KnowledgeError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if len(titled) != len(title_vectors):
            raise KnowledgeError(
                f"{len(titled)} titled chunks but {len(title_vectors)} title vectors"
            )
        if len(chunks) == 0:
            return
        for matrix in (vectors, title_vectors):
            if len(matrix) and matrix.shape[1] != self.dimension:
                raise KnowledgeError(
                    f"vectors have dimension {matrix.shape[1]}, index has {self.dimension}"
                )
        duplicate = next((c for c in chunks if c.id in self.chunks), None)
        if duplicate is not None:
            raise KnowledgeError(
                f"chunk {duplicate.id} of {duplicate.document_id!r} is already indexed"
            )
        new_ids = {chunk.id for chunk in chunks}
        if not set(titled) <= new_ids:
            raise KnowledgeError("title vectors must belong to chunks added in the same call")
        ids = np.array([c.id for c in chunks] + [title_vector_id(i) for i in titled], np.int64)
        matrix = np.vstack([vectors, title_vectors]).astype(np.float32)
        if len(self._vectors) == 0:
            self._vectors = VectorIndex.build(matrix, ids, self.index_kind)
        else:
            self._vectors.add(matrix, ids)
        self.chunks.update((chunk.id, chunk) for chunk in chunks)
        self.titled.update(titled)
        self._lexical = None  # document frequencies changed: rebuilt on next use

    def remove_documents(self, document_ids: list[str]) -> int:
        """Remove every chunk of ``document_ids``; unknown ids raise before anything changes."""
        unknown = [d for d in document_ids if d not in self.document_checksums]
        if unknown:
            raise UnknownDocumentError(
                f"no document with id {', '.join(map(repr, unknown))} in the knowledge base"
            )
        doomed = set(document_ids)
        chunk_ids = [i for i, chunk in self.chunks.items() if chunk.document_id in doomed]
        vector_ids = chunk_ids + [title_vector_id(i) for i in chunk_ids if i in self.titled]
        self._vectors.remove(np.array(vector_ids, dtype=np.int64))
        for chunk_id in chunk_ids:
            del self.chunks[chunk_id]
            self.titled.discard(chunk_id)
        for document_id in doomed:
            del self.document_checksums[document_id]
        self._lexical = None
        return len(chunk_ids)

    def subset(self, keep: Callable[[Chunk], bool]) -> KnowledgeStore:
        """A new in-memory store of the chunks ``keep`` accepts, reusing their vectors.

        Used for per-language sub-indexes and for calibration with documents held out;
        nothing is embedded again.
        """
        chunks = [chunk for chunk in self.chunks.values() if keep(chunk)]
        ids = [chunk.id for chunk in chunks]
        titled = [i for i in ids if i in self.titled]
        subset = KnowledgeStore(self.dimension, self.embedder_name, index_kind=self.index_kind)
        subset.add(
            chunks,
            self._vectors.reconstruct(ids),
            titled=titled,
            title_vectors=self._vectors.reconstruct([title_vector_id(i) for i in titled]),
        )
        documents = {chunk.document_id for chunk in chunks}
        subset.document_checksums = {
            d: checksum for d, checksum in self.document_checksums.items() if d in documents
        }
        return subset

    def search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """The ``k`` chunks most similar to ``vector`` (shape ``(dimension,)``), best first."""
        if len(self) == 0 or k < 1:
            return []
        # A chunk can appear twice (its own and its title vector): ask for enough to dedupe.
        wanted = min(len(self._vectors), 2 * k)
        scores, ids = self._vectors.search(vector, wanted)
        best: dict[int, float] = {}
        for vector_id, score in zip(ids[0], scores[0], strict=True):
            if vector_id == -1:
                continue
            chunk_id = int(vector_id)
            if chunk_id not in self.chunks:
                chunk_id = title_vector_id(chunk_id)  # a title vector stands for its chunk
            best.setdefault(chunk_id, float(score))  # hits come best first
        return [(self.chunks[i], s) for i, s in list(best.items())[:k]]

    def similarities(self, vector: np.ndarray, chunk_ids: list[int]) -> dict[int, float]:
        """Dense score of each of ``chunk_ids`` for ``vector`` (the best of its vectors)."""
        if not chunk_ids:
            return {}
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        own = self._vectors.reconstruct(chunk_ids) @ vector
        result = {chunk_id: float(s) for chunk_id, s in zip(chunk_ids, own, strict=True)}
        titled = [i for i in chunk_ids if i in self.titled]
        title = self._vectors.reconstruct([title_vector_id(i) for i in titled]) @ vector
        for chunk_id, score in zip(titled, title, strict=True):
            result[chunk_id] = max(result[chunk_id], float(score))
        return result

    @property
    def lexical(self) -> LexicalIndex:
        """BM25 over the chunks, rebuilt from them after any change."""
        if self._lexical is None:
            self._lexical = LexicalIndex.build(list(self.chunks.values()), self.language)
        return self._lexical

    def manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "embedder": self.embedder_name,
            "dimension": self.dimension,
            "normalized": True,
            "metric": "inner_product",
            **self._vectors.describe(),
            "requested_index_kind": self.index_kind.value,
            "documents": len(self.document_checksums),
            "chunks": len(self),
            "vectors": len(self._vectors),
            "lexical": {"library": "bm25s", "language": self.language},
            "document_checksums": self.document_checksums,
        }

    def save(self, directory: Path) -> None:
        """Write the store to ``directory`` atomically: readers never see half a store."""

        def write(staging: Path) -> None:
            self._vectors.write(staging / INDEX_FILE)
            with (staging / CHUNKS_FILE).open("w", encoding="utf-8") as handle:
                for chunk in self.chunks.values():
                    record = {**asdict(chunk), "title_vector": chunk.id in self.titled}
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.lexical.save(staging / LEXICAL_DIR)
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
        store = cls(
            int(manifest["dimension"]),
            str(manifest["embedder"]),
            index_kind=manifest.get("requested_index_kind", IndexKind.AUTO),
        )
        store._vectors = VectorIndex.read(directory / INDEX_FILE)
        if manifest.get("nprobe"):
            store._vectors.nprobe = int(manifest["nprobe"])
        for _, record in iter_jsonl(directory / CHUNKS_FILE):
            titled = bool(record.pop("title_vector", False))
            chunk = Chunk(**record)
            store.chunks[chunk.id] = chunk
            if titled:
                store.titled.add(chunk.id)
        store.document_checksums = dict(manifest.get("document_checksums", {}))
        if len(store.chunks) + len(store.titled) != len(store._vectors):
            raise KnowledgeError(
                f"{directory} is inconsistent: {len(store.chunks)} chunks and "
                f"{len(store.titled)} title vectors, but {len(store._vectors)} vectors"
            )
        store._lexical = _load_lexical(directory / LEXICAL_DIR, store)
        return store


def _load_lexical(directory: Path, store: KnowledgeStore) -> LexicalIndex | None:
    """The saved BM25 index if it matches the chunks; None means rebuild it on first use."""
    if not directory.is_dir():
        return None
    try:
        lexical = LexicalIndex.load(directory)
    except KnowledgeError:
        return None
    return lexical if set(lexical.chunk_ids.tolist()) == set(store.chunks) else None


def read_manifest(directory: Path) -> dict[str, Any] | None:
    return read_json_manifest(Path(directory) / MANIFEST_FILE, "format_version", FORMAT_VERSION)
