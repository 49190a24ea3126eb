"""The widget speaks protocol 2: a generated answer streams into one bubble with its sources."""

from __future__ import annotations

import copy
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn

from bot.app import create_app
from bot.generation.factory import make_answerer
from bot.runtime import Runtime
from tests.sse_server import Script, free_port, running_sse_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
ANSWER = [
    "You can return most items within 30 days of delivery.",
    " They must be unused and in their original packaging.",
]


@pytest.fixture(scope="module")
def page_url(demo_runtime: Runtime) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; install the Debian package 'chromium'")
    with running_sse_server(Script(chunks=ANSWER)) as generator_url:
        settings = demo_runtime.settings.model_copy(
            update={
                "generator_backend": "remote",
                "generator_url": generator_url,
                "generator_model": "smollm2",
                "generator_timeout_s": 5.0,
            }
        )
        dialogue = copy.copy(demo_runtime.dialogue)
        dialogue.answerer = make_answerer(settings, demo_runtime.embedder)
        runtime = replace(demo_runtime, settings=settings, dialogue=dialogue)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, runtime=runtime),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the chat server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_widget_shows_a_streamed_answer_once_with_linked_sources(page_url: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            frames: list[str] = []
            page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
            page.goto(page_url)
            page.wait_for_selector("#status:has-text('connected')", timeout=20_000)
            page.fill("#text", "How many days do I have to send back something I bought?")
            page.click("#send")
            page.wait_for_selector(".msg.bot:not(.streaming) .sources", timeout=30_000)
            bubbles = page.locator(".msg.bot")
            assert bubbles.count() == 1
            text = bubbles.inner_text()
            assert text.startswith("".join(ANSWER)) and "Source: Our returns policy" in text
            assert any('"reply_delta"' in str(f) for f in frames)
        finally:
            browser.close()
