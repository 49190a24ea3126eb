"""The chat channel over a real ASGI WebSocket: replies, bad frames, and the HTTP endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.runtime import Runtime


@pytest.fixture(scope="module")
def client(demo_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(demo_runtime.settings, runtime=demo_runtime)) as test_client:
        yield test_client


def ask(ws, text: str, message_id: str = "m1") -> dict:  # type: ignore[no-untyped-def]
    ws.send_text(json.dumps({"type": "message", "id": message_id, "text": text}))
    return ws.receive_json()


def test_welcome_then_replies_for_greeting_returns_and_human(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["protocol"] == 1 and welcome["session_id"]
        greeting = ask(ws, "hello there!", "g1")
        assert greeting["type"] == "reply" and greeting["reply_to"] == "g1"
        assert greeting["action"] == "smalltalk" and greeting["intent"]["name"] == "greet"
        returns = ask(ws, "How many days do I have to send back something I bought?", "r1")
        assert returns["action"] == "answer"
        assert returns["sources"][0]["id"] in {"returns-policy", "start-a-return"}
        assert "30" in returns["text"]
        human = ask(ws, "I want to talk to a real person please", "h1")
        assert human["action"] == "handoff" and human["intent"]["name"] == "human_handoff"


@pytest.mark.parametrize(
    ("send", "code"),
    [
        (lambda ws: ws.send_text("{not json"), "invalid_json"),
        (lambda ws: ws.send_bytes(b"\x00\x01binary"), "unsupported_frame"),
        (
            lambda ws: ws.send_text(json.dumps({"type": "message", "text": "x" * 1_000_000})),
            "too_large",
        ),
        (lambda ws: ws.send_text(json.dumps({"type": "message", "text": "   "})), "empty_text"),
        (lambda ws: ws.send_text(json.dumps({"type": "message", "text": ""})), "empty_text"),
        (lambda ws: ws.send_text(json.dumps({"type": "launch", "text": "hi"})), "invalid_frame"),
        (lambda ws: ws.send_text(json.dumps(["message", "hi"])), "invalid_frame"),
        (lambda ws: ws.send_text(json.dumps({"type": "message", "text": 42})), "invalid_frame"),
    ],
)
def test_bad_frames_get_an_error_and_the_connection_stays_usable(
    client: TestClient, send, code: str
) -> None:  # type: ignore[no-untyped-def]
    with client.websocket_connect("/ws/chat") as ws:
        ws.receive_json()
        send(ws)
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == code and error["message"]
        after = ask(ws, "thank you so much", "after")
        assert after["type"] == "reply" and after["reply_to"] == "after"


def test_one_megabyte_frame_does_not_reach_the_model(client: TestClient) -> None:
    before = client.get("/metrics").text
    with client.websocket_connect("/ws/chat") as ws:
        ws.receive_json()
        ws.send_text("y" * (1024 * 1024))
        assert ws.receive_json()["code"] == "too_large"
    after = client.get("/metrics").text
    assert (
        _metric(after, 'supportbot_frame_errors_total{code="too_large"}')
        == _metric(before, 'supportbot_frame_errors_total{code="too_large"}') + 1
    )


def test_unsupported_language_is_declined_in_english_with_a_human_offered(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        ws.receive_json()
        reply = ask(
            ws, "Bonjour, je voudrais savoir quand ma commande va arriver chez moi s'il vous plaît"
        )
        assert reply["action"] == "unsupported_language" and reply["language"] == "fr"
        assert "English" in reply["text"] and "person" in reply["text"]


def test_session_resumes_by_id(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        session_id = ws.receive_json()["session_id"]
        ask(ws, "hi")
    with client.websocket_connect(f"/ws/chat?session={session_id}") as ws:
        assert ws.receive_json()["session_id"] == session_id


def test_health_readiness_metrics_and_widget(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "supportbot_turns_total" in metrics.text
    page = client.get("/")
    assert page.status_code == 200 and "/ws/chat" in page.text and "<script>" in page.text


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
