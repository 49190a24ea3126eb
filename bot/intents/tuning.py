"""How an intent model is trained: a head on frozen embeddings, or tuned top layers.

Kept free of torch so the CLI can read the defaults without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import InputError


@dataclass(frozen=True)
class TuningConfig:
    """How the top layers are fine-tuned (defaults measured on BANKING77, see README)."""

    layers: int = 3
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 2e-4
    head_learning_rate: float = 2e-3
    label_smoothing: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.layers < 1:
            raise InputError(f"tuned layers must be at least 1, got {self.layers}")
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("epochs and batch size must be at least 1")
        if self.learning_rate <= 0 or self.head_learning_rate <= 0:
            raise InputError("learning rates must be positive")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InputError(f"label smoothing must be within [0, 1), got {self.label_smoothing}")


def tuning_for(layers: int, epochs: int | None = None) -> TuningConfig | None:
    """The tuning for a ``--tune-layers`` option: 0 means a head on frozen embeddings."""
    if layers == 0:
        return None
    defaults = TuningConfig()
    return TuningConfig(layers=layers, epochs=epochs or defaults.epochs)
