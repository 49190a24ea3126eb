"""An OpenAI-compatible chat-completions server (vLLM, TGI, llama.cpp server...) streamed over SSE."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.errors import ConfigError
from bot.generation.types import ChatMessage, GenerationError, GenerationTimeout

# Without the model's tokenizer at hand, prompts are budgeted at about 4 characters a token,
# the usual figure for English BPE vocabularies.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


class RemoteGenerator:
    """POST ``{base_url}/chat/completions`` with ``stream: true`` and yield the content deltas.

    ``base_url`` is the OpenAI-style base, e.g. ``http://vllm:8000/v1``. Only connection
    failures are retried (nothing reached the server, so a retry cannot double any work);
    a read that stalls past ``timeout_s`` raises :class:`GenerationTimeout`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout_s: float = 10.0,
        max_new_tokens: int = 160,
        api_key_env: str | None = None,
        connect_attempts: int = 3,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        parsed = urlparse(base_url)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ConfigError(f"generator URL must be http(s)://host[:port]/..., got {base_url!r}")
        if not model:
            raise ConfigError(
                "the remote generator needs a model name (SUPPORTBOT_GENERATOR_MODEL)"
            )
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive, got {timeout_s}")
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if connect_attempts < 1:
            raise ConfigError(f"connect_attempts must be at least 1, got {connect_attempts}")
        self.endpoint = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.max_new_tokens = max_new_tokens
        self.api_key_env = api_key_env
        self.connect_attempts = connect_attempts
        self._count_tokens = count_tokens or estimate_tokens
        self.name = f"remote:{model}@{parsed.netloc}"

    def warm_up(self) -> None:
        """Nothing to load; the key is read per request so that a rotated key is picked up."""
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise ConfigError(
                f"the generator API key variable {self.api_key_env} is not set in the environment"
            )

    def count_tokens(self, text: str) -> int:
        return self._count_tokens(text)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int | None = None
    ) -> AsyncIterator[str]:
        if not messages:
            raise GenerationError("no messages to answer")
        body = {
            "model": self.model,
            "messages": [m.as_dict() for m in messages],
            "stream": True,
            "temperature": 0,
            "max_tokens": max_new_tokens or self.max_new_tokens,
        }
        # One client per answer: an AsyncClient's pool belongs to the event loop it was first
        # used in, and a model call dwarfs the cost of a new loopback/LAN connection.
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s)) as client:
            response = await self._open(client, body)
            try:
                if response.status_code != 200:
                    detail = (await response.aread()).decode("utf-8", "replace")[:300]
                    raise GenerationError(
                        f"{self.name} answered HTTP {response.status_code}: {detail}"
                    )
                async for delta in _content_deltas(response.aiter_lines()):
                    yield delta
            except httpx.TimeoutException as exc:
                raise GenerationTimeout(f"{self.name} stalled for over {self.timeout_s}s") from exc
            except httpx.HTTPError as exc:
                raise GenerationError(f"{self.name} broke off the stream: {exc}") from exc
            finally:
                await response.aclose()

    async def _open(self, client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
        request = client.build_request("POST", self.endpoint, json=body, headers=self._headers())
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(httpx.ConnectError),
                stop=stop_after_attempt(self.connect_attempts),
                wait=wait_exponential(multiplier=0.1, max=1.0),
                reraise=True,
            ):
                with attempt:
                    return await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise GenerationTimeout(f"{self.name} did not answer within {self.timeout_s}s") from exc
        except httpx.HTTPError as exc:
            raise GenerationError(f"{self.name} is unreachable: {exc}") from exc
        raise GenerationError(f"{self.name}: no attempt was made")  # pragma: no cover


async def _content_deltas(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``choices[0].delta.content`` of each SSE ``data:`` event, until ``[DONE]``."""
    async for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event names
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
            choice = event["choices"][0] if event.get("choices") else {}
        except (json.JSONDecodeError, AttributeError, TypeError) as exc:
            raise GenerationError(
                f"the generator sent an event that is not JSON: {data[:200]}"
            ) from exc
        if "error" in event:
            raise GenerationError(f"the generator reported an error: {event['error']}")
        content = (choice.get("delta") or {}).get("content")
        if content:
            yield content
