"""Build a knowledge store from source files, skipping the work when nothing changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.chunking import chunk_document
from knowledge.documents import Chunk, Document
from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError
from knowledge.loaders import load_sources
from knowledge.store import KnowledgeStore, read_manifest


@dataclass
class BuildReport:
    documents: int = 0
    chunks: int = 0
    unchanged: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)


def build_store(
    documents: Sequence[Document], embedder: Embedder, *, progress: bool = False
) -> KnowledgeStore:
    """Chunk and embed ``documents`` into a fresh in-memory store."""
    chunks: list[Chunk] = [chunk for document in documents for chunk in chunk_document(document)]
    vectors = embedder.encode([chunk.embedding_text for chunk in chunks], show_progress=progress)
    store = KnowledgeStore(embedder.dimension, embedder.name)
    store.add(chunks, vectors)
    store.document_checksums = {document.id: document.checksum for document in documents}
    return store


def build_index(
    sources: Sequence[Path], embedder: Embedder, index_dir: Path, *, progress: bool = True
) -> BuildReport:
    """Load ``sources`` and write the store to ``index_dir``; a no-op when nothing changed.

    Bad files are skipped and reported. If no document at all can be loaded the build fails
    and the index already in ``index_dir`` stays in place.
    """
    loaded = load_sources(sources)
    report = BuildReport(documents=len(loaded.documents), skipped=loaded.skipped)
    if not loaded.documents:
        raise KnowledgeError(
            "no document could be loaded from "
            + ", ".join(str(s) for s in sources)
            + "".join(f"\n  {path}: {reason}" for path, reason in loaded.skipped)
        )
    checksums = {document.id: document.checksum for document in loaded.documents}
    manifest = read_manifest(index_dir)
    if (
        manifest
        and manifest["embedder"] == embedder.name
        and manifest["document_checksums"] == checksums
    ):
        report.unchanged = True
        report.chunks = int(manifest["chunks"])
        return report
    store = build_store(loaded.documents, embedder, progress=progress)
    store.save(index_dir)
    report.chunks = len(store)
    return report
