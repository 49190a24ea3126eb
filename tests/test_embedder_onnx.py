"""The ONNX runtime of the embedder: same vectors and states as torch, cached export, fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge import onnx_encoder
from knowledge.embedder import Embedder

TEXTS = ["where is my parcel", "I'd like to return the lamp I bought last week, it arrived broken"]


@pytest.fixture(scope="module")
def onnx_embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    model = Embedder(onnx_dir=tmp_path_factory.mktemp("onnx"))
    model.warm_up()
    return model


def test_onnx_vectors_and_states_match_torch(onnx_embedder: Embedder, embedder: Embedder) -> None:
    assert onnx_embedder.uses_onnx
    for text in [*TEXTS, "", "🙂", "x " * 600]:  # empty, emoji and over-long messages too
        np.testing.assert_allclose(onnx_embedder.encode([text]), embedder.encode([text]), atol=1e-4)
        np.testing.assert_allclose(
            onnx_embedder.encode_with_states([text], 4).states[0],
            embedder.encode_with_states([text], 4).states[0],
            atol=1e-3,
        )


def test_export_is_cached_and_redone_for_another_model(
    onnx_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert onnx_embedder.onnx_dir is not None
    model_file = onnx_embedder.onnx_dir / onnx_encoder.MODEL_FILE
    stamp = model_file.stat().st_mtime_ns

    def no_export(*args: object) -> None:
        raise AssertionError("a cached export must not be redone")

    monkeypatch.setattr(onnx_encoder, "_export", no_export)
    again = Embedder(onnx_dir=onnx_embedder.onnx_dir)
    assert again.uses_onnx and model_file.stat().st_mtime_ns == stamp
    # Another fingerprint (another model or library version) means a new export.
    manifest = onnx_embedder.onnx_dir / onnx_encoder.MANIFEST_FILE
    manifest.write_text('{"fingerprint": "another model"}')
    with pytest.raises(AssertionError, match="must not be redone"):
        Embedder(onnx_dir=onnx_embedder.onnx_dir).warm_up()


def test_failed_export_falls_back_to_torch(
    tmp_path: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_export(*args: object) -> None:
        raise RuntimeError("exporter unavailable")

    monkeypatch.setattr(onnx_encoder, "_export", broken_export)
    fallback = Embedder(onnx_dir=tmp_path / "onnx")
    assert not fallback.uses_onnx
    assert "exporter unavailable" in caplog.text
    np.testing.assert_allclose(fallback.encode([TEXTS[0]]), embedder.encode([TEXTS[0]]), atol=1e-5)
    assert not (tmp_path / "onnx" / onnx_encoder.MODEL_FILE).exists()
