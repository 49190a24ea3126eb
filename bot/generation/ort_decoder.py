"""The exported decoder run with plain ONNX Runtime, its keys and values in buffers we own.

ONNX Runtime GenAI keeps a sequence's cache to itself; owning it lets a prompt be put
together from keys and values computed earlier (``bot.generation.block_reuse``). Each
``DecoderState`` holds one buffer per layer sized for the longest sequence it will hold;
the model reads its past from it and writes the new tokens' keys and values into the same
buffer (the export's ``past_present_share_buffer``), so a step copies nothing. Which of the
buffer's positions count is told by the attention mask, so rewinding is setting a length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import AssetError


@dataclass(frozen=True)
class DecoderShape:
    layers: int
    kv_heads: int
    head_size: int
    input_ids: str
    attention_mask: str
    past_key: str  # with %d for the layer
    past_value: str
    present_key: str
    present_value: str
    logits: str

    @classmethod
    def from_genai_config(cls, directory: Path) -> DecoderShape:
        path = directory / "genai_config.json"
        try:
            decoder = json.loads(path.read_text())["model"]["decoder"]
            inputs, outputs = decoder["inputs"], decoder["outputs"]
            return cls(
                layers=int(decoder["num_hidden_layers"]),
                kv_heads=int(decoder["num_key_value_heads"]),
                head_size=int(decoder["head_size"]),
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                past_key=inputs["past_key_names"],
                past_value=inputs["past_value_names"],
                present_key=outputs["present_key_names"],
                present_value=outputs["present_value_names"],
                logits=outputs["logits"],
            )
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise AssetError(f"{path} does not describe an exported decoder: {exc}") from exc

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_size * 4  # float32 keys and values


@dataclass(eq=False)
class DecoderState:
    """One sequence's keys and values: ``keys[layer][0, head, position, :]``."""

    keys: list[np.ndarray]
    values: list[np.ndarray]
    mask: np.ndarray  # (1, capacity): ones for the positions that count
    binding: Any
    length: int = 0
    logits: np.ndarray | None = field(default=None, repr=False)

    @property
    def capacity(self) -> int:
        return int(self.mask.shape[1])

    def rewind_to(self, length: int) -> None:
        if not 0 <= length <= self.capacity:
            raise ValueError(f"cannot rewind a {self.capacity}-token state to {length}")
        self.mask[0, length:] = 0
        self.length = length

    def set_length(self, length: int) -> None:
        """Count the first ``length`` positions (their keys and values were written directly)."""
        self.rewind_to(length)
        self.mask[0, :length] = 1


class OrtDecoder:
    """``append`` runs tokens through the model after what a state holds and returns the
    last token's logits; greedy decoding is ``append([argmax])`` in a loop."""

    def __init__(self, directory: Path, *, threads: int) -> None:
        import onnxruntime as ort

        self.directory = Path(directory)
        self.shape = DecoderShape.from_genai_config(self.directory)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Sleep instead of spinning between tokens: the grounding check embeds each
        # streamed sentence on the same cores meanwhile.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._ort = ort
        self.session = ort.InferenceSession(
            str(self.directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def new_state(self, capacity: int) -> DecoderState:
        shape = self.shape
        dims = (1, shape.kv_heads, capacity, shape.head_size)
        keys = [np.zeros(dims, np.float32) for _ in range(shape.layers)]
        values = [np.zeros(dims, np.float32) for _ in range(shape.layers)]
        mask = np.zeros((1, capacity), np.int64)
        binding = self.session.io_binding()
        value = self._ort.OrtValue.ortvalue_from_numpy
        # Bound once: the same buffers are the past read and the present written.
        for layer, (k, v) in enumerate(zip(keys, values, strict=True)):
            key, val = value(k), value(v)
            binding.bind_ortvalue_input(shape.past_key % layer, key)
            binding.bind_ortvalue_input(shape.past_value % layer, val)
            binding.bind_ortvalue_output(shape.present_key % layer, key)
            binding.bind_ortvalue_output(shape.present_value % layer, val)
        binding.bind_ortvalue_input(shape.attention_mask, value(mask))
        binding.bind_output(shape.logits)
        return DecoderState(keys, values, mask, binding)

    def append(self, state: DecoderState, tokens: list[int]) -> np.ndarray:
        """Run ``tokens`` after the state's sequence; the logits for the next token."""
        if not tokens:
            raise ValueError("no tokens to append")
        end = state.length + len(tokens)
        if end > state.capacity:
            raise ValueError(f"{end} tokens do not fit a {state.capacity}-token decoder state")
        state.mask[0, state.length : end] = 1
        state.binding.bind_cpu_input(self.shape.input_ids, np.array([tokens], np.int64))
        self.session.run_with_iobinding(state.binding)
        state.length = end
        logits = state.binding.get_outputs()[-1].numpy()
        state.logits = logits.reshape(-1, logits.shape[-1])[-1]
        return state.logits
