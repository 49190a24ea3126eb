"""Vector index kinds, adding/replacing/removing documents without a rebuild, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge.builder import build_index, remove_from_index, update_index
from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeError, UnknownDocumentError
from knowledge.options import IndexKind
from knowledge.store import MANIFEST_FILE, KnowledgeStore
from knowledge.text_files import MAX_SOURCE_BYTES
from knowledge.vector_index import FLAT_MAX_VECTORS, VectorIndex, choose_kind

ARTICLES = {
    "returns": ("Returning an item", "Send unwanted items back within 30 days for a refund."),
    "password": ("Resetting your password", "Use the forgot password link on the sign-in page."),
    "shipping": ("Delivery costs", "Standard delivery costs 4.95; orders over 50 ship free."),
}


def article(document_id: str, title: str, text: str) -> str:
    return f"---\nid: {document_id}\ntitle: {title}\n---\n{text}\n"


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    directory = tmp_path / "kb"
    directory.mkdir()
    for document_id, (title, text) in ARTICLES.items():
        (directory / f"{document_id}.md").write_text(article(document_id, title, text), "utf-8")
    return directory


class CountingEmbedder(Embedder):
    """The session's real model, counting how many texts it is asked to embed."""

    def __init__(self, real: Embedder) -> None:
        super().__init__()
        self._model = real._model
        self.texts = 0

    def encode(self, texts, *, show_progress: bool = False):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return super().encode(texts, show_progress=show_progress)


def clustered(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, 32)).astype(np.float32)
    points = centres[rng.integers(0, 20, count)] + 0.1 * rng.standard_normal((count, 32))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


# --- vector index ----------------------------------------------------------------------


def test_index_kind_follows_size_unless_overridden() -> None:
    assert choose_kind(FLAT_MAX_VECTORS) is IndexKind.FLAT
    assert choose_kind(FLAT_MAX_VECTORS + 1) is IndexKind.IVF
    assert choose_kind(10, "ivf") is IndexKind.IVF
    assert choose_kind(10**7, IndexKind.FLAT) is IndexKind.FLAT


@pytest.mark.parametrize("kind", [IndexKind.FLAT, IndexKind.IVF])
def test_vector_index_add_remove_reconstruct(kind: IndexKind, tmp_path: Path) -> None:
    vectors = clustered(2000)
    ids = np.arange(2000, dtype=np.int64) * 1_000_003 + 5  # sparse, large ids
    index = VectorIndex.build(vectors[:1500], ids[:1500], kind)
    assert index.kind is kind and len(index) == 1500
    index.add(vectors[1500:], ids[1500:])
    index.nprobe = 64  # enough cells that the nearest vector is always found
    _, found = index.search(vectors[1700], 1)
    assert found[0][0] == ids[1700]
    np.testing.assert_allclose(index.reconstruct([int(ids[3])])[0], vectors[3], rtol=1e-6)
    assert index.remove(ids[1700:1710]) == 10 and len(index) == 1990
    _, found = index.search(vectors[1700], 5)
    assert ids[1700] not in found[0]
    index.write(tmp_path / "v.faiss")
    again = VectorIndex.read(tmp_path / "v.faiss")
    assert again.kind is kind and len(again) == 1990
    np.testing.assert_allclose(again.reconstruct([int(ids[42])])[0], vectors[42], rtol=1e-6)


# --- incremental updates ---------------------------------------------------------------


def test_add_replaces_changed_documents_and_embeds_only_them(
    kb: Path, tmp_path: Path, embedder: Embedder
) -> None:
    index = tmp_path / "index"
    build_index([kb], embedder, index, progress=False)
    counting = CountingEmbedder(embedder)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "gift.md").write_text(article("gift-cards", "Gift cards", "They never expire."))
    (extra / "shipping.md").write_text(
        article("shipping", "Delivery costs", "Delivery is free on every order now.")
    )
    (extra / "returns.md").write_text(article("returns", *ARTICLES["returns"]))
    report = update_index([extra], counting, index, progress=False)
    assert (report.added, report.replaced, report.unchanged) == (
        ["gift-cards"],
        ["shipping"],
        ["returns"],
    )
    # Two documents embedded: each one chunk plus one title vector.
    assert counting.texts == 4
    store = KnowledgeStore.load(index, expected_embedder=embedder.name)
    texts = {c.document_id: c.text for c in store.chunks.values()}
    assert texts["shipping"] == "Delivery is free on every order now."
    assert set(texts) == {"returns", "password", "shipping", "gift-cards"}
    manifest = json.loads((index / MANIFEST_FILE).read_text())
    assert manifest["documents"] == 4 and manifest["chunks"] == len(store)
    assert manifest["vectors"] == 2 * len(store)  # every one-chunk document has a title vector
    top, _ = store.search(embedder.encode(["is shipping free"])[0], 1)[0]
    assert top.document_id == "shipping"


def test_remove_takes_out_every_chunk_and_vector(
    kb: Path, tmp_path: Path, embedder: Embedder
) -> None:
    index = tmp_path / "index"
    build_index([kb], embedder, index, progress=False)
    report = remove_from_index(["password"], embedder, index)
    assert report.documents == 2
    store = KnowledgeStore.load(index, expected_embedder=embedder.name)
    assert {c.document_id for c in store.chunks.values()} == {"returns", "shipping"}
    hits = store.search(embedder.encode(["I forgot my password"])[0], 10)
    assert "password" not in {chunk.document_id for chunk, _ in hits}
    assert store.lexical.search("password", 5) == [] or all(
        store.chunks[i].document_id != "password" for i, _ in store.lexical.search("password", 5)
    )


def test_remove_of_an_unknown_id_changes_nothing(
    kb: Path, tmp_path: Path, embedder: Embedder
) -> None:
    index = tmp_path / "index"
    build_index([kb], embedder, index, progress=False)
    before = (index / MANIFEST_FILE).read_text()
    with pytest.raises(UnknownDocumentError, match="'nope'"):
        remove_from_index(["returns", "nope"], embedder, index)
    assert (index / MANIFEST_FILE).read_text() == before


def test_cli_remove_unknown_id_exits_2_with_a_clear_message(
    kb: Path, tmp_path: Path, embedder: Embedder
) -> None:
    build_index([kb], embedder, tmp_path / "var" / "index", progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "kb", "remove", "no-such-doc"],
        capture_output=True,
        text=True,
        env={**os.environ, "SUPPORTBOT_DATA_HOME": str(tmp_path / "var")},
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "no-such-doc" in result.stderr and "Traceback" not in result.stderr


def test_ivf_store_round_trips_with_its_settings(
    kb: Path, tmp_path: Path, embedder: Embedder
) -> None:
    index = tmp_path / "index"
    report = build_index([kb], embedder, index, progress=False, index_kind="ivf")
    assert report.index_type == "IVFFlat"
    manifest = json.loads((index / MANIFEST_FILE).read_text())
    assert manifest["requested_index_kind"] == "ivf" and manifest["nlist"] >= 1
    assert manifest["embedder"] == embedder.name and manifest["normalized"] is True
    assert build_index([kb], embedder, index, progress=False, index_kind="ivf").unchanged
    # Asking for another kind is a change, not a no-op.
    assert not build_index([kb], embedder, index, progress=False, index_kind="flat").unchanged


# --- bad input -------------------------------------------------------------------------


def test_bad_files_are_skipped_and_the_rest_builds(
    kb: Path, tmp_path: Path, embedder: Embedder
) -> None:
    (kb / "empty.md").write_text("")
    (kb / "binary.html").write_bytes(b"<html>\x00\x01\x02</html>")
    (kb / "broken.md").write_text("---\nid: broken\ntitle: [oops\n---\nText.\n")
    (kb / "zz-copy.md").write_text(article("returns", "Returns again", "A second returns page."))
    (kb / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    with (kb / "huge.md").open("wb") as handle:  # sparse: no 50 MB actually written
        handle.truncate(MAX_SOURCE_BYTES + 1)
    report = build_index([kb], embedder, tmp_path / "index", progress=False)
    reasons = {Path(path).name: reason for path, reason in report.skipped}
    assert set(reasons) == {
        "empty.md",
        "binary.html",
        "broken.md",
        "zz-copy.md",
        "sheet.xlsx",
        "huge.md",
    }
    assert "empty" in reasons["empty.md"] and "binary" in reasons["binary.html"]
    assert "front matter" in reasons["broken.md"] and "duplicate" in reasons["zz-copy.md"]
    assert "unsupported" in reasons["sheet.xlsx"] and "limit" in reasons["huge.md"]
    assert report.documents == 3 and not report.unchanged


def test_a_failed_add_keeps_the_index(kb: Path, tmp_path: Path, embedder: Embedder) -> None:
    index = tmp_path / "index"
    build_index([kb], embedder, index, progress=False)
    before = (index / MANIFEST_FILE).read_text()
    (tmp_path / "bad.md").write_text("")
    with pytest.raises(KnowledgeError, match="bad.md"):
        update_index([tmp_path / "bad.md"], embedder, index, progress=False)
    assert (index / MANIFEST_FILE).read_text() == before
