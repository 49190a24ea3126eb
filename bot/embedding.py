"""The embedder the settings ask for, in a module light enough for quick CLI commands."""

from __future__ import annotations

from bot.settings import Settings
from knowledge.embedder import Embedder


def make_embedder(settings: Settings) -> Embedder:
    """The one embedder instance that serves intents and retrieval alike."""
    onnx_dir = settings.models_dir / "onnx" if settings.embedder_runtime == "onnx" else None
    return Embedder(settings.embedder_path, onnx_dir=onnx_dir)
