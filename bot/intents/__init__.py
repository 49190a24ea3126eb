"""Intent understanding: training examples and the classifier."""

from bot.intents.classifier import IntentClassifier, IntentPrediction, IntentScore
from bot.intents.examples import LabeledText, load_examples

__all__ = ["IntentClassifier", "IntentPrediction", "IntentScore", "LabeledText", "load_examples"]
