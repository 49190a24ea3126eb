"""The embedder's top transformer layers, copied and fine-tuned for intent classification.

Tuning only the top layers keeps one embedder serving intents and retrieval: the lower
layers run once per message, retrieval reads the untouched model's embedding, and the
intent model continues from a lower layer's token states with its own tuned copy of the
layers above. Training is cheap for the same reason: the frozen lower layers' states are
computed once, and each epoch only runs the few tuned layers forwards and backwards.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bot.errors import AssetError, InputError
from bot.intents.tuning import TuningConfig
from knowledge.embedder import Embedder

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "top_layers.safetensors"
# The same layers for ONNX Runtime, used when the embedder runs on ONNX too: eager torch
# overhead on a dozen tokens would otherwise cost more than the layers' arithmetic.
ONNX_FILE = "top_layers.onnx"
# Normalised embeddings times this scale are the logits' input: a cosine classifier whose
# logits can still reach a confident softmax (the calibration temperature rescales later).
COSINE_SCALE = 20.0


class TopLayers(nn.Module):
    """Copies of the embedder's last ``count`` layers, then mean pooling and L2 normalisation."""

    def __init__(self, embedder: Embedder, count: int) -> None:
        super().__init__()
        transformer = embedder.transformer
        layers = getattr(getattr(transformer, "encoder", None), "layer", None)
        if layers is None:
            raise AssetError(
                f"top-layer tuning needs a BERT-style encoder; {embedder.name!r} has no encoder.layer"
            )
        if not 1 <= count < len(layers):
            raise InputError(f"can tune 1 to {len(layers) - 1} layers, got {count}")
        self.config = transformer.config
        self.tap_layer = len(layers) - count
        self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in layers[self.tap_layer :])
        self._session: Any = None  # an onnxruntime.InferenceSession once loaded

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        attention = create_bidirectional_mask(
            config=self.config, inputs_embeds=states, attention_mask=mask
        )
        hidden = states
        for layer in self.layers:
            output = layer(hidden, attention_mask=attention)
            hidden = output[0] if isinstance(output, tuple) else output
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1)

    def embed(self, states: Sequence[np.ndarray], batch_size: int = 128) -> np.ndarray:
        """Normalised intent embeddings for token states taken at ``tap_layer``."""
        if self.training:  # switching modes walks every submodule: skip it when already set
            self.eval()
        out = np.zeros((len(states), self.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(states)), key=lambda i: len(states[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = [states[i] for i in rows]
                if self._session is not None:
                    # numpy only: a torch operation here wakes torch's thread pool, whose
                    # spinning threads then slow ONNX Runtime's down on a 2-core machine.
                    padded, mask = pad_states_numpy(batch)
                    out[rows] = self._session.run(None, {"states": padded, "mask": mask})[0]
                else:
                    out[rows] = self(*pad_states(batch)).numpy()
        return out

    def export_onnx(self, directory: Path) -> None:
        """Write :data:`ONNX_FILE`; on failure the artifact simply runs on torch."""
        example = [np.zeros((3, self.config.hidden_size), dtype=np.float32)] * 2
        padded, mask = pad_states(example)
        try:
            torch.onnx.export(
                self.eval(),
                (padded, mask),
                str(Path(directory) / ONNX_FILE),
                input_names=["states", "mask"],
                output_names=["embeddings"],
                dynamic_axes={
                    "states": {0: "batch", 1: "tokens"},
                    "mask": {0: "batch", 1: "tokens"},
                    "embeddings": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        except (RuntimeError, ValueError, ImportError) as exc:
            logger.warning(
                "could not export the tuned layers to ONNX, torch will run them: %s", exc
            )

    def use_onnx(self, directory: Path) -> bool:
        """Run :meth:`embed` on ONNX Runtime if the artifact has the export; says whether it does."""
        path = Path(directory) / ONNX_FILE
        if not path.is_file():
            return False
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the embedder's and the tuned layers'
        # sessions run one after the other and would otherwise fight over the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        return True

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        tensors = {name: t.detach().contiguous() for name, t in self.layers.state_dict().items()}
        save_file(tensors, str(Path(directory) / WEIGHTS_FILE))
        self.export_onnx(directory)

    @classmethod
    def load(
        cls, directory: Path, embedder: Embedder, count: int, *, onnx: bool = False
    ) -> TopLayers:
        from safetensors.torch import load_file

        path = Path(directory) / WEIGHTS_FILE
        if not path.is_file():
            raise AssetError(f"{path} is missing; retrain with `supportbot train intents`")
        top = cls(embedder, count)
        try:
            top.layers.load_state_dict(load_file(str(path)))
        except RuntimeError as exc:
            raise AssetError(f"{path} does not fit the embedder {embedder.name!r}: {exc}") from exc
        if onnx:
            top.use_onnx(directory)
        return top.eval()


def pad_states_numpy(states: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length token states into a zero-padded batch and its attention mask."""
    longest = max(1, max(len(s) for s in states))
    padded = np.zeros((len(states), longest, states[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(states), longest), dtype=np.int64)
    for row, state in enumerate(states):
        padded[row, : len(state)] = state
        mask[row, : len(state)] = 1
    return padded, mask


def pad_states(states: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    padded, mask = pad_states_numpy(states)
    return torch.from_numpy(padded), torch.from_numpy(mask)


def fine_tune(
    top: TopLayers,
    states: Sequence[np.ndarray],
    targets: np.ndarray,
    classes: int,
    config: TuningConfig,
    *,
    show_progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Train ``top`` and a cosine softmax head on class indices; returns the head (weights, bias).

    The returned weights already include :data:`COSINE_SCALE`, so logits are
    ``embedding @ weights.T + bias`` like the logistic-regression head's.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    head = nn.Linear(top.config.hidden_size, classes)
    optimizer = torch.optim.AdamW(
        [
            {"params": top.parameters(), "lr": config.learning_rate},
            {"params": head.parameters(), "lr": config.head_learning_rate},
        ],
        weight_decay=0.01,
    )
    # Batches of similar length: most messages are short, so little padding is computed.
    order = sorted(range(len(states)), key=lambda i: len(states[i]))
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    schedule: Any = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[config.learning_rate, config.head_learning_rate],
        total_steps=config.epochs * len(batches),
        pct_start=0.1,
    )
    labels = torch.as_tensor(targets, dtype=torch.long)
    shuffler = random.Random(config.seed)
    top.train()
    with tqdm(total=config.epochs * len(batches), desc="Tuning", disable=not show_progress) as bar:
        for epoch in range(config.epochs):
            shuffler.shuffle(batches)
            for rows in batches:
                padded, mask = pad_states([states[i] for i in rows])
                logits = head(top(padded, mask) * COSINE_SCALE)
                loss = nn.functional.cross_entropy(
                    logits, labels[rows], label_smoothing=config.label_smoothing
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
                bar.update()
    top.eval()
    weights = head.weight.detach().numpy() * COSINE_SCALE
    return weights.astype(np.float32), head.bias.detach().numpy().astype(np.float32)
