"""The embedder the settings ask for, in a module light enough for quick CLI commands."""

from __future__ import annotations

from bot.settings import Settings
from knowledge.embedder import Embedder


def make_embedder(settings: Settings) -> Embedder:
    """The one embedder instance that serves intents and retrieval alike."""
    return Embedder(settings.embedder_path)
