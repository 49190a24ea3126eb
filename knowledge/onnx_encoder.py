"""The embedder's transformer exported once to ONNX and run with ONNX Runtime.

Why: for one short chat message, eager torch spends most of its time in small matrix
products and per-operator overhead; ONNX Runtime's fused graph returns the same vectors
(cosine > 0.99999 against torch) in a fraction of the time, which is the latency users feel
on every turn (measured in benchmarks/intents.py). The export runs on first use and is
cached next to the other models; if it fails, the embedder keeps using torch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.errors import KnowledgeError
from knowledge.files import write_directory_atomically

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class OnnxTransformer:
    """Every layer's hidden states, shape ``(layers + 1, batch, tokens, hidden)``, from ONNX."""

    def __init__(self, directory: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the embedder's and the tuned layers'
        # sessions run one after the other and would otherwise fight over the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            str(Path(directory) / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def hidden_states(self, features: Mapping[str, Any]) -> np.ndarray:
        ids = np.asarray(features["input_ids"], dtype=np.int64)
        # Models without segment ids get the zeros BERT-style graphs expect.
        feed = {
            name: np.asarray(features[name], dtype=np.int64)
            if name in features
            else np.zeros_like(ids)
            for name in self.input_names
        }
        return np.asarray(self.session.run(None, feed)[0])


def load_or_export(transformer: Any, directory: Path, fingerprint: str, threads: int) -> Any:
    """The cached ONNX model for ``fingerprint``, exported from ``transformer`` when missing.

    Returns None (and logs why) when the export is not possible, so callers fall back to torch.
    """
    directory = Path(directory)
    try:
        if _cached_fingerprint(directory) != fingerprint:
            write_directory_atomically(
                directory, lambda staging: _export(transformer, staging, fingerprint)
            )
        return OnnxTransformer(directory, threads)
    except (ImportError, RuntimeError, OSError, ValueError, KnowledgeError) as exc:
        logger.warning("ONNX export of the embedder failed, using torch instead: %s", exc)
        return None


def _cached_fingerprint(directory: Path) -> str | None:
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not (directory / MODEL_FILE).is_file():
        return None
    return str(manifest.get("fingerprint"))


def _export(transformer: Any, staging: Path, fingerprint: str) -> None:
    import torch

    class AllLayers(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            output = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                output_hidden_states=True,
            )
            return torch.stack(output.hidden_states)

    example = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            AllLayers(transformer).eval(),
            (example, example, torch.zeros_like(example)),
            str(staging / MODEL_FILE),
            input_names=list(INPUT_NAMES),
            output_names=["hidden_states"],
            dynamic_axes={**axes, "hidden_states": {1: "batch", 2: "tokens"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter needs no extra packages
        )
    (staging / MANIFEST_FILE).write_text(json.dumps({"fingerprint": fingerprint}), "utf-8")
