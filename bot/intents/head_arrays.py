"""The intent model's numeric parts as one ``.npz`` file: plain arrays, never a pickle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEAD_FILE = "head.npz"


@dataclass(frozen=True)
class HeadArrays:
    weights: np.ndarray  # (classes, dimension)
    bias: np.ndarray  # (classes,)
    examples: np.ndarray | None  # normalised training features, for the nearest-example check
    example_classes: np.ndarray | None  # their class indices
    frozen_head: tuple[np.ndarray, np.ndarray] | None = None  # blended in by tuned models

    def save(self, directory: Path) -> None:
        examples = self.examples
        if examples is None:
            examples = np.zeros((0, self.weights.shape[1]))
        frozen = {}
        if self.frozen_head is not None:
            frozen = {"frozen_weights": self.frozen_head[0], "frozen_bias": self.frozen_head[1]}
        # Examples as float16 halve the artifact; they are searched as float32.
        np.savez(
            directory / HEAD_FILE,
            weights=self.weights,
            bias=self.bias,
            examples=examples.astype(np.float16),
            example_classes=(
                self.example_classes if self.example_classes is not None else np.zeros(0, int)
            ).astype(np.int32),
            **frozen,
        )

    @classmethod
    def load(cls, directory: Path) -> HeadArrays:
        with np.load(Path(directory) / HEAD_FILE) as arrays:
            files = set(arrays.files)
            examples = arrays["examples"].astype(np.float32) if "examples" in files else None
            classes = arrays["example_classes"] if "example_classes" in files else None
            frozen = None
            if "frozen_weights" in files:
                frozen = (arrays["frozen_weights"], arrays["frozen_bias"])
            return cls(arrays["weights"], arrays["bias"], examples, classes, frozen)
