"""The demo widget in headless Chromium: type a message, see the bot's reply and its source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def page_url(server: str) -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; install the Debian package 'chromium'")
    return server.replace("ws://", "http://").removesuffix("/ws/chat") + "/"


def test_widget_chats_over_the_websocket(page_url: str, tmp_path: Path) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(page_url)
            page.wait_for_selector("#status:has-text('connected')", timeout=20_000)
            page.fill("#text", "how long do I have to return something?")
            page.click("#send")
            reply = page.wait_for_selector(".msg.bot", timeout=30_000)
            assert "30" in reply.inner_text()
            assert "Source:" in reply.inner_text()
            assert (
                page.locator(".msg.user").inner_text() == "how long do I have to return something?"
            )
            page.screenshot(path=str(tmp_path / "widget.png"))
        finally:
            browser.close()
