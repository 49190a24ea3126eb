"""Generated answers through the dialogue manager and the WebSocket (protocols 1 and 2),
with a real OpenAI-compatible streaming server on 127.0.0.1 as the generator backend."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.generation.answerer import GroundedAnswerer
from bot.generation.factory import make_answerer
from bot.generation.grounding import GroundingChecker
from bot.generation.prompt import PromptBuilder
from bot.runtime import Runtime
from tests.scripted_generator import SteerableScripted
from tests.sse_server import Script, running_sse_server

RETURNS_QUESTION = "How many days do I have to send back something I bought?"
GROUNDED = [
    "You can return most items ",
    "within 30 days of delivery.",
    " They must be unused and in their original packaging.",
]


@pytest.fixture(scope="module")
def script() -> Script:
    return Script(chunks=GROUNDED)


@pytest.fixture(scope="module")
def generating_runtime(demo_runtime: Runtime, script: Script) -> Iterator[Runtime]:
    """The demo runtime with generation through the remote backend (the scripted server)."""
    with running_sse_server(script) as url:
        settings = demo_runtime.settings.model_copy(
            update={
                "generator_backend": "remote",
                "generator_url": url,
                "generator_model": "smollm2",
                "generator_timeout_s": 3.0,
            }
        )
        dialogue = copy.copy(demo_runtime.dialogue)
        dialogue.answerer = make_answerer(settings, demo_runtime.embedder)
        yield replace(demo_runtime, settings=settings, dialogue=dialogue)


@pytest.fixture
def client(generating_runtime: Runtime, script: Script) -> Iterator[TestClient]:
    script.chunks, script.delay_first_s = GROUNDED, 0.0
    script.requests.clear()
    app = create_app(generating_runtime.settings, runtime=generating_runtime)
    with TestClient(app) as test_client:
        yield test_client


def send(ws, text: str, message_id: str) -> None:  # type: ignore[no-untyped-def]
    ws.send_text(json.dumps({"type": "message", "id": message_id, "text": text}))


def test_protocol_2_streams_checked_deltas_then_the_full_reply(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat?protocol=2") as ws:
        assert ws.receive_json()["protocol"] == 2
        send(ws, RETURNS_QUESTION, "r1")
        deltas = []
        while (frame := ws.receive_json())["type"] == "reply_delta":
            deltas.append(frame)
        assert [d["index"] for d in deltas] == list(range(len(deltas))) and len(deltas) == 2
        assert all(d["reply_to"] == "r1" for d in deltas)
        assert frame["type"] == "reply" and frame["generated"] is True
        assert frame["text"] == "".join(d["text"] for d in deltas) == "".join(GROUNDED)
        assert frame["sources"][0]["id"] == "returns-policy" and frame["action"] == "answer"


def test_protocol_1_clients_get_only_the_final_reply(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        assert ws.receive_json()["protocol"] == 1
        send(ws, RETURNS_QUESTION, "r1")
        frame = ws.receive_json()
        assert frame["type"] == "reply" and frame["generated"] is True
        assert frame["text"] == "".join(GROUNDED)


def test_a_slow_backend_gives_the_extractive_answer_and_is_counted(
    client: TestClient, script: Script
) -> None:
    script.delay_first_s = 8.0
    with client.websocket_connect("/ws/chat?protocol=2") as ws:
        ws.receive_json()
        send(ws, RETURNS_QUESTION, "slow")
        frame = ws.receive_json()
        assert frame["type"] == "reply" and frame["generated"] is False
        assert "30 days" in frame["text"] and frame["sources"][0]["id"] == "returns-policy"
    metrics = client.get("/metrics").text
    assert 'supportbot_generator_fallbacks_total{reason="timeout"} 1.0' in metrics


def test_an_invented_answer_is_replaced_and_counted_as_unsupported(
    client: TestClient, script: Script
) -> None:
    script.chunks = ["Returns are free for 365 days, and we refund twice the price."]
    with client.websocket_connect("/ws/chat?protocol=2") as ws:
        ws.receive_json()
        send(ws, RETURNS_QUESTION, "made-up")
        frame = ws.receive_json()
        assert frame["type"] == "reply" and frame["generated"] is False
        assert "365" not in frame["text"] and "30 days" in frame["text"]
    assert (
        'supportbot_generator_fallbacks_total{reason="unsupported"} 1.0'
        in client.get("/metrics").text
    )
    assert len(script.requests) == 1  # a remote endpoint cannot be steered to a second draft


def test_a_second_draft_is_answered_and_counted(generating_runtime: Runtime) -> None:
    generator = SteerableScripted(
        "Returns are free for 365 days.",
        later=("You can return most items within 30 days of delivery.",),
    )
    dialogue = copy.copy(generating_runtime.dialogue)
    dialogue.answerer = GroundedAnswerer(
        generator,
        PromptBuilder(generator.count_tokens),
        GroundingChecker(generating_runtime.embedder),
    )
    runtime = replace(generating_runtime, dialogue=dialogue)
    with TestClient(create_app(runtime.settings, runtime=runtime)) as client:
        with client.websocket_connect("/ws/chat") as ws:
            ws.receive_json()
            send(ws, RETURNS_QUESTION, "second")
            frame = ws.receive_json()
        assert frame["generated"] is True and frame["text"] == generator.later[0]
        metrics = client.get("/metrics").text
    assert generator.openings == [("Returns are free for 365 days.",)]
    assert "supportbot_generator_redrafts_total 1.0" in metrics
    assert "supportbot_generator_fallbacks_total{" not in metrics


def test_small_talk_and_handoff_never_call_the_generator(
    client: TestClient, script: Script
) -> None:
    with client.websocket_connect("/ws/chat?protocol=2") as ws:
        ws.receive_json()
        send(ws, "hello there!", "g1")
        assert ws.receive_json()["action"] == "smalltalk"
        send(ws, "I want to talk to a real person please", "h1")
        assert ws.receive_json()["action"] == "handoff"
    assert script.requests == []


def test_a_decline_becomes_no_answer_without_sources(client: TestClient, script: Script) -> None:
    script.chunks = [
        "I'm sorry, I don't have information about that. ",
        "Would you like me to connect you with a member of our support team?",
    ]
    with client.websocket_connect("/ws/chat") as ws:
        ws.receive_json()
        send(ws, "can I return a rug I bought 3 weeks ago?", "d1")
        frame = ws.receive_json()
        assert frame["action"] == "no_answer" and frame["sources"] == []
        assert frame["generated"] is True


def test_an_unknown_protocol_version_is_refused(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat?protocol=7") as ws:
        frame = ws.receive_json()
        assert frame["type"] == "error" and frame["code"] == "unsupported_protocol"


async def test_the_turn_is_logged_with_how_it_was_answered(generating_runtime: Runtime) -> None:
    dialogue = generating_runtime.dialogue
    session = dialogue.open_session()
    events = [event async for event in dialogue.stream(session, RETURNS_QUESTION)]
    reply = events[-1]
    assert reply.generated and reply.text == "".join(GROUNDED)  # type: ignore[union-attr]
    (turn,) = generating_runtime.log.turns(session.id)
    assert turn.details["generated"] is True and turn.details["fallback"] is None
    assert session.history[-1] == ("bot", reply.text)  # type: ignore[union-attr]
