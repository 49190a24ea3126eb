"""KnowledgeStore, build_index and the retriever helpers, with the real packaged embedder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from knowledge.builder import build_index, build_store
from knowledge.chunking import chunk_document
from knowledge.documents import Chunk, Document, Passage
from knowledge.embedder import Embedder
from knowledge.errors import IndexMismatchError, KnowledgeError
from knowledge.retriever import DenseRetriever, rank_documents, rerank_with_prior
from knowledge.store import MANIFEST_FILE, KnowledgeStore

DOCUMENTS = [
    Document(
        id="returns",
        title="Returning an item",
        text="You can send back unwanted items within 30 days. Print the prepaid return label "
        "from your account and drop the parcel at any post office. We refund you once it arrives.",
    ),
    Document(
        id="password",
        title="Resetting your password",
        text="Click 'Forgot password' on the sign-in page and we email you a reset link. "
        "The link expires after one hour.",
    ),
    Document(
        id="shipping",
        title="Delivery costs",
        text="Standard delivery costs 4.95 and is free for orders over 50. Express delivery costs 9.95.",
    ),
]

QUERIES = {
    "how do I send back a jumper I don't want": "returns",
    "I forgot my login password": "password",
    "how much is postage for my order": "shipping",
}


def markdown(document: Document) -> str:
    return f"---\nid: {document.id}\ntitle: {document.title}\n---\n{document.text}\n"


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    directory = tmp_path / "kb"
    directory.mkdir()
    for document in DOCUMENTS:
        (directory / f"{document.id}.md").write_text(markdown(document), "utf-8")
    return directory


@pytest.fixture(scope="module")
def store(embedder: Embedder) -> KnowledgeStore:
    return build_store(DOCUMENTS, embedder)


def top_document(store: KnowledgeStore, embedder: Embedder, query: str) -> str:
    return store.search(embedder.encode([query])[0], 1)[0][0].document_id


# --- KnowledgeStore --------------------------------------------------------------------


@pytest.mark.parametrize(("query", "expected"), sorted(QUERIES.items()))
def test_search_ranks_the_matching_chunk_first(
    store: KnowledgeStore, embedder: Embedder, query: str, expected: str
) -> None:
    hits = store.search(embedder.encode([query])[0], k=10)
    assert hits[0][0].document_id == expected
    assert len(hits) == len(store)  # k larger than the store returns everything
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)
    assert -1.0001 <= scores[-1] <= scores[0] <= 1.0001  # cosine similarity of unit vectors


def test_store_records_embedder_and_checksums(store: KnowledgeStore, embedder: Embedder) -> None:
    assert store.embedder_name == embedder.name
    assert store.dimension == embedder.dimension == 384
    assert store.document_checksums == {d.id: d.checksum for d in DOCUMENTS}


def test_add_rejects_mismatches(embedder: Embedder) -> None:
    store = KnowledgeStore(embedder.dimension, embedder.name)
    chunks = chunk_document(DOCUMENTS[0])
    vectors = embedder.encode([c.embedding_text for c in chunks])
    with pytest.raises(KnowledgeError, match="chunks but"):
        store.add(chunks, vectors[:0])
    with pytest.raises(KnowledgeError, match="dimension"):
        store.add(chunks, np.zeros((len(chunks), 8), dtype=np.float32))
    store.add(chunks, vectors)
    with pytest.raises(KnowledgeError, match="already indexed"):
        store.add(chunks, vectors)
    assert len(store) == len(chunks)
    assert KnowledgeStore(embedder.dimension, "x").search(vectors[0], 3) == []


def test_save_load_round_trip_gives_the_same_results(
    store: KnowledgeStore, embedder: Embedder, tmp_path: Path
) -> None:
    store.save(tmp_path / "index")
    loaded = KnowledgeStore.load(tmp_path / "index", expected_embedder=embedder.name)
    assert len(loaded) == len(store)
    assert loaded.document_checksums == store.document_checksums
    for query in QUERIES:
        vector = embedder.encode([query])[0]
        before, after = store.search(vector, 5), loaded.search(vector, 5)
        assert [c for c, _ in after] == [c for c, _ in before]
        np.testing.assert_allclose([s for _, s in after], [s for _, s in before], rtol=1e-6)


def test_load_with_another_embedder_raises_a_clear_mismatch(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    store.save(tmp_path / "index")
    with pytest.raises(IndexMismatchError) as caught:
        KnowledgeStore.load(tmp_path / "index", expected_embedder="acme/other-embedder")
    message = str(caught.value)
    assert (
        store.embedder_name in message
        and "acme/other-embedder" in message
        and "kb build" in message
    )


def test_load_without_an_index_says_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="kb build") as caught:
        KnowledgeStore.load(tmp_path)
    assert not isinstance(caught.value, IndexMismatchError)


# --- build_index -----------------------------------------------------------------------


def test_unchanged_sources_do_not_rewrite_the_index(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    index = tmp_path / "index"
    first = build_index([sources], embedder, index, progress=False)
    assert not first.unchanged and first.documents == 3 and first.chunks >= 3
    manifest = index / MANIFEST_FILE
    os.utime(manifest, ns=(1_000_000_000, 1_000_000_000))  # an old, recognisable mtime
    second = build_index([sources], embedder, index, progress=False)
    assert second.unchanged and second.chunks == first.chunks and second.documents == 3
    assert manifest.stat().st_mtime_ns == 1_000_000_000


def test_changed_document_triggers_a_rebuild(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    index = tmp_path / "index"
    build_index([sources], embedder, index, progress=False)
    old_checksums = json.loads((index / MANIFEST_FILE).read_text())["document_checksums"]
    path = sources / "shipping.md"
    path.write_text(path.read_text() + "\nWe also deliver on Saturdays for a small surcharge.\n")
    report = build_index([sources], embedder, index, progress=False)
    assert not report.unchanged
    new_checksums = json.loads((index / MANIFEST_FILE).read_text())["document_checksums"]
    assert new_checksums["shipping"] != old_checksums["shipping"]
    assert new_checksums["returns"] == old_checksums["returns"]
    loaded = KnowledgeStore.load(index, expected_embedder=embedder.name)
    assert any("Saturdays" in c.text for c in loaded.chunks.values())


def test_all_bad_sources_fail_and_keep_the_previous_index(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    index = tmp_path / "index"
    build_index([sources], embedder, index, progress=False)
    manifest_before = (index / MANIFEST_FILE).read_text()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.md").write_text("")
    (bad / "untitled.md").write_text("---\nid: x\n---\nText without a title.\n")
    with pytest.raises(KnowledgeError) as caught:
        build_index([bad], embedder, index, progress=False)
    assert "empty.md" in str(caught.value) and "untitled.md" in str(caught.value)
    assert (index / MANIFEST_FILE).read_text() == manifest_before
    loaded = KnowledgeStore.load(index, expected_embedder=embedder.name)
    assert top_document(loaded, embedder, "I forgot my login password") == "password"


def test_skipped_files_are_reported_while_the_rest_builds(
    sources: Path, tmp_path: Path, embedder: Embedder
) -> None:
    (sources / "broken.md").write_text("---\nid: broken\ntitle: [oops\n---\nText.\n")
    (sources / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    report = build_index([sources], embedder, tmp_path / "index", progress=False)
    assert report.documents == 3
    assert sorted(Path(p).name for p, _ in report.skipped) == ["broken.md", "image.png"]
    loaded = KnowledgeStore.load(tmp_path / "index")
    assert set(loaded.document_checksums) == {"returns", "password", "shipping"}


# --- retriever -------------------------------------------------------------------------


def test_dense_retriever(store: KnowledgeStore, embedder: Embedder) -> None:
    retriever = DenseRetriever(store, embedder)
    assert retriever.run("   \n\t") == []
    assert retriever.run("") == []
    passages = retriever.run("my parcel needs to go back to you", top_k=2)
    assert len(passages) == 2
    assert passages[0].chunk.document_id == "returns"
    assert [p.rank for p in passages] == [0, 1]
    assert passages[0].score >= passages[1].score


def test_dense_retriever_refuses_a_store_from_another_embedder(embedder: Embedder) -> None:
    with pytest.raises(KnowledgeError, match="other-embedder"):
        DenseRetriever(KnowledgeStore(embedder.dimension, "other-embedder"), embedder)


def passage(document_id: str, score: float, rank: int = 0) -> Passage:
    chunk = Chunk(
        id=len(document_id), document_id=document_id, title=document_id, section="", text="t"
    )
    return Passage(chunk=chunk, score=score, rank=rank)


def test_rerank_with_prior_lifts_a_boosted_document() -> None:
    passages = [
        passage("returns", 0.62, 0),
        passage("refunds", 0.55, 1),
        passage("shipping", 0.50, 2),
    ]
    reranked = rerank_with_prior(passages, {"refunds": 0.9}, weight=0.2)
    assert [p.chunk.document_id for p in reranked] == ["refunds", "returns", "shipping"]
    assert [p.rank for p in reranked] == [0, 1, 2]
    assert reranked[0].score == pytest.approx(0.55 + 0.2 * 0.9)
    assert reranked[2].score == pytest.approx(0.50)  # no prior keeps its score
    unweighted = rerank_with_prior(passages, {"refunds": 0.9}, weight=0.0)
    assert [p.chunk.document_id for p in unweighted] == ["returns", "refunds", "shipping"]


def test_rank_documents_dedupes_in_best_first_order() -> None:
    passages = [
        passage("a", 0.9),
        passage("b", 0.8),
        passage("a", 0.7),
        passage("c", 0.6),
        passage("b", 0.5),
    ]
    assert rank_documents(passages) == ["a", "b", "c"]
    assert rank_documents([]) == []
