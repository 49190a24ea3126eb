"""The shared embedder: normalised vectors, and one forward pass per message per turn."""

from __future__ import annotations

import numpy as np

from knowledge.embedder import Embedder


def test_vectors_are_normalised_and_batches_match_single_texts(embedder: Embedder) -> None:
    texts = ["where is my order", "I want a refund"]
    batch = embedder.encode(texts)
    assert batch.shape == (2, embedder.dimension) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.encode([texts[0]])[0], batch[0], atol=1e-5)
    assert embedder.encode([]).shape == (0, embedder.dimension)


def test_repeated_single_text_is_served_from_the_cache_as_a_copy(embedder: Embedder) -> None:
    text = "a message embedded once for the intent and once for retrieval"
    first = embedder.encode([text])
    hits = embedder._encode_single.cache_info().hits
    first[0, 0] = 99.0  # a caller modifying its result must not change the cached vector
    second = embedder.encode([text])
    assert embedder._encode_single.cache_info().hits == hits + 1
    assert second[0, 0] != 99.0
    assert np.isclose(np.linalg.norm(second[0]), 1.0, atol=1e-5)
