"""Intent understanding: training examples and the classifier.

The classifier loads torch, so it is imported on first use: light modules of this package
(``bot.intents.tuning``) stay cheap to import for the command line.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.intents.classifier import IntentClassifier
    from bot.intents.examples import LabeledText, load_examples
    from bot.intents.prediction import IntentPrediction, IntentScore

_EXPORTS = {
    "IntentClassifier": "bot.intents.classifier",
    "IntentPrediction": "bot.intents.prediction",
    "IntentScore": "bot.intents.prediction",
    "LabeledText": "bot.intents.examples",
    "load_examples": "bot.intents.examples",
}

__all__ = [
    "IntentClassifier",
    "IntentPrediction",
    "IntentScore",
    "LabeledText",
    "load_examples",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bot.intents' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
