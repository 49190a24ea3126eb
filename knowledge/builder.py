"""Build, extend and prune a knowledge store on disk; unchanged sources are a no-op."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.chunking import chunk_document
from knowledge.documents import Chunk, Document
from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError
from knowledge.loaders import LoadReport, load_sources
from knowledge.store import KnowledgeStore, read_manifest
from knowledge.vector_index import IndexKind


@dataclass
class BuildReport:
    documents: int = 0
    chunks: int = 0
    unchanged: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)
    index_type: str = ""


@dataclass
class UpdateReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0


def add_documents(
    store: KnowledgeStore, documents: Sequence[Document], embedder: Embedder, *, progress: bool
) -> None:
    """Chunk and embed ``documents`` into ``store`` (their ids must not be in it yet)."""
    chunks: list[Chunk] = []
    titled: list[Chunk] = []
    for document in documents:
        pieces = chunk_document(document)
        chunks.extend(pieces)
        if pieces and document.title.strip():
            titled.append(pieces[0])
    # One encode call, so the progress bar covers all the work.
    texts = [c.embedding_text for c in chunks] + [c.title for c in titled]
    vectors = embedder.encode(texts, show_progress=progress)
    store.add(
        chunks,
        vectors[: len(chunks)],
        titled=[c.id for c in titled],
        title_vectors=vectors[len(chunks) :],
    )
    store.document_checksums.update((d.id, d.checksum) for d in documents)


def build_store(
    documents: Sequence[Document],
    embedder: Embedder,
    *,
    progress: bool = False,
    index_kind: IndexKind | str = IndexKind.AUTO,
) -> KnowledgeStore:
    """Chunk and embed ``documents`` into a fresh in-memory store."""
    store = KnowledgeStore(embedder.dimension, embedder.name, index_kind=index_kind)
    add_documents(store, documents, embedder, progress=progress)
    return store


def build_index(
    sources: Sequence[Path],
    embedder: Embedder,
    index_dir: Path,
    *,
    progress: bool = True,
    index_kind: IndexKind | str = IndexKind.AUTO,
) -> BuildReport:
    """Load ``sources`` and write the store to ``index_dir``; a no-op when nothing changed.

    Bad files are skipped and reported. If no document at all can be loaded the build fails
    and the index already in ``index_dir`` stays in place.
    """
    loaded = _load_some(sources)
    report = BuildReport(documents=len(loaded.documents), skipped=loaded.skipped)
    checksums = {document.id: document.checksum for document in loaded.documents}
    manifest = _current_manifest(index_dir)
    if (
        manifest
        and manifest["embedder"] == embedder.name
        and manifest["document_checksums"] == checksums
        and manifest.get("requested_index_kind") == IndexKind(index_kind).value
    ):
        report.unchanged = True
        report.chunks = int(manifest["chunks"])
        report.index_type = str(manifest["index_type"])
        return report
    store = build_store(loaded.documents, embedder, progress=progress, index_kind=index_kind)
    store.save(index_dir)
    report.chunks = len(store)
    report.index_type = str(store.vectors.describe()["index_type"])
    return report


def update_index(
    sources: Sequence[Path], embedder: Embedder, index_dir: Path, *, progress: bool = True
) -> UpdateReport:
    """Add the documents in ``sources`` to the index, replacing those whose id is already there.

    Only new and changed documents are embedded; the rest of the index is untouched.
    Without an index in ``index_dir`` a new one is started.
    """
    loaded = _load_some(sources)
    store = (
        KnowledgeStore.load(index_dir, expected_embedder=embedder.name)
        if read_manifest(index_dir)
        else KnowledgeStore(embedder.dimension, embedder.name)
    )
    report = UpdateReport(skipped=loaded.skipped)
    fresh: list[Document] = []
    for document in loaded.documents:
        previous = store.document_checksums.get(document.id)
        if previous == document.checksum:
            report.unchanged.append(document.id)
            continue
        (report.replaced if previous else report.added).append(document.id)
        fresh.append(document)
    if fresh:
        store.remove_documents(report.replaced)
        add_documents(store, fresh, embedder, progress=progress)
        store.save(index_dir)
    report.documents, report.chunks = len(store.document_checksums), len(store)
    return report


def remove_from_index(
    document_ids: Sequence[str], embedder: Embedder, index_dir: Path
) -> UpdateReport:
    """Remove documents by id; an unknown id raises and leaves the index as it was."""
    store = KnowledgeStore.load(index_dir, expected_embedder=embedder.name)
    store.remove_documents(list(document_ids))
    store.save(index_dir)
    return UpdateReport(
        removed=list(document_ids), documents=len(store.document_checksums), chunks=len(store)
    )


def _load_some(sources: Sequence[Path]) -> LoadReport:
    loaded = load_sources(sources)
    if not loaded.documents:
        raise KnowledgeError(
            "no document could be loaded from "
            + ", ".join(str(s) for s in sources)
            + "".join(f"\n  {path}: {reason}" for path, reason in loaded.skipped)
        )
    return loaded


def _current_manifest(index_dir: Path) -> dict[str, object] | None:
    """The manifest of the index in place, or None when there is none or it is of an older format."""
    try:
        return read_manifest(index_dir)
    except KnowledgeError:
        return None  # an older format is rebuilt, not an error
