"""`supportbot serve` as a real process, driven by a real WebSocket client over loopback."""

from __future__ import annotations

import asyncio
import json

import websockets


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
