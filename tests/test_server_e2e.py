"""`supportbot serve` as a real process, driven by a real WebSocket client over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from bot.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(demo_artifacts: Settings) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "SUPPORTBOT_DATA_HOME": str(demo_artifacts.data_home),
        "SUPPORTBOT_TENANT_DIR": str(demo_artifacts.tenant_dir),
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


async def _conversation(url: str, messages: list[str]) -> list[dict]:
    async with websockets.connect(url) as ws:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome"
        replies = []
        for number, text in enumerate(messages):
            await ws.send(json.dumps({"type": "message", "id": f"c{number}", "text": text}))
            replies.append(json.loads(await ws.recv()))
        # Bad frames on the same connection: each gets an error, and the connection survives.
        await ws.send("{oops")
        replies.append(json.loads(await ws.recv()))
        await ws.send(b"\x01\x02")
        replies.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "message", "id": "last", "text": "thanks a lot"}))
        replies.append(json.loads(await ws.recv()))
        return replies


def test_scripted_client_gets_correct_replies(server: str) -> None:
    greeting, returns, human, bad_json, binary, thanks = asyncio.run(
        _conversation(
            server,
            ["hi there", "can I return a lamp I bought two weeks ago?", "I need a human agent"],
        )
    )
    assert greeting["action"] == "smalltalk" and greeting["intent"]["name"] == "greet"
    assert returns["action"] == "answer" and returns["sources"][0]["id"] in {
        "returns-policy",
        "start-a-return",
    }
    assert human["action"] == "handoff"
    assert bad_json["code"] == "invalid_json" and binary["code"] == "unsupported_frame"
    assert thanks["reply_to"] == "last" and thanks["intent"]["name"] == "thanks"
