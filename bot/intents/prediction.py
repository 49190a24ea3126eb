"""What the intent model says about one message: ranked intents with calibrated confidences."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True)
class IntentPrediction:
    """Intents ranked by confidence; ``truncated`` when the text exceeded the model window."""

    ranked: tuple[IntentScore, ...]
    truncated: bool = False
    # The top confidence is under the calibrated operating point: none of the known intents fits.
    out_of_scope: bool = False

    @property
    def top(self) -> IntentScore:
        return self.ranked[0]
