"""RemoteGenerator against a real streaming HTTP server on 127.0.0.1: deltas, slow, down, errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from bot.errors import ConfigError
from bot.generation.remote import RemoteGenerator
from bot.generation.types import ChatMessage, GenerationError, GenerationTimeout, complete_text
from tests.sse_server import Script, free_port, running_sse_server

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "how long do refunds take?")]


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def base_url(script: Script) -> Iterator[str]:
    with running_sse_server(script) as url:
        yield url


async def _collect(generator: RemoteGenerator) -> list[str]:
    return [delta async for delta in generator.stream(MESSAGES)]


def test_streams_content_deltas_and_sends_an_openai_request(
    script: Script, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script.chunks = ["Refunds ", "take 5-10 ", "business days."]
    monkeypatch.setenv("TEST_GENERATOR_KEY", "sk-test-123")
    generator = RemoteGenerator(
        base_url, "smollm2", max_new_tokens=42, api_key_env="TEST_GENERATOR_KEY"
    )
    generator.warm_up()
    assert asyncio.run(_collect(generator)) == ["Refunds ", "take 5-10 ", "business days."]
    (request,) = script.requests
    assert request["body"]["stream"] is True and request["body"]["max_tokens"] == 42
    assert request["body"]["model"] == "smollm2" and request["body"]["temperature"] == 0
    assert request["body"]["messages"][1] == {"role": "user", "content": MESSAGES[1].content}
    assert request["headers"]["authorization"] == "Bearer sk-test-123"


def test_a_slow_backend_times_out(script: Script, base_url: str) -> None:
    script.delay_first_s = 3.0
    generator = RemoteGenerator(base_url, "m", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(GenerationTimeout):
        asyncio.run(complete_text(generator, MESSAGES))
    assert time.monotonic() - started < 2.5


def test_a_backend_that_is_down_fails_after_retrying_the_connection() -> None:
    generator = RemoteGenerator(
        f"http://127.0.0.1:{free_port()}/v1", "m", timeout_s=1, connect_attempts=3
    )
    started = time.monotonic()
    with pytest.raises(GenerationError, match="unreachable"):
        asyncio.run(complete_text(generator, MESSAGES))
    # Three attempts with 0.1 s and 0.2 s waits between them, then the error.
    assert 0.25 < time.monotonic() - started < 5


def test_http_errors_are_reported_and_not_retried(script: Script, base_url: str) -> None:
    script.status = 503
    generator = RemoteGenerator(base_url, "m", connect_attempts=3)
    with pytest.raises(GenerationError, match="503"):
        asyncio.run(complete_text(generator, MESSAGES))
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("url", "model", "kwargs"),
    [
        ("ftp://host/v1", "m", {}),
        ("not a url", "m", {}),
        ("http://127.0.0.1:1/v1", "", {}),
        ("http://127.0.0.1:1/v1", "m", {"timeout_s": 0}),
        ("http://127.0.0.1:1/v1", "m", {"max_new_tokens": 0}),
    ],
)
def test_bad_settings_are_refused_at_construction(url: str, model: str, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        RemoteGenerator(url, model, **kwargs)


def test_a_missing_api_key_variable_is_reported_at_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_GENERATOR_KEY_MISSING", raising=False)
    generator = RemoteGenerator(
        "http://127.0.0.1:1/v1", "m", api_key_env="TEST_GENERATOR_KEY_MISSING"
    )
    with pytest.raises(ConfigError, match="TEST_GENERATOR_KEY_MISSING"):
        generator.warm_up()
