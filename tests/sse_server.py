"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for generator tests.

It streams the configured ``chunks`` as SSE events, optionally after a delay, or fails
with an HTTP status; every request it received is kept for assertions.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


@dataclass
class Script:
    chunks: list[str] = field(default_factory=lambda: ["Hello", " there."])
    delay_first_s: float = 0.0  # before the first event (a slow model)
    delay_between_s: float = 0.0
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)


def make_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        script.requests.append({"body": body, "headers": dict(request.headers)})
        if script.status != 200:
            return JSONResponse({"error": "model overloaded"}, status_code=script.status)

        async def events() -> AsyncIterator[str]:
            await asyncio.sleep(script.delay_first_s)
            yield ": keep-alive comment\n\n"
            for number, chunk in enumerate(script.chunks):
                if number:
                    await asyncio.sleep(script.delay_between_s)
                event = {"choices": [{"index": 0, "delta": {"content": chunk}}]}
                yield f"data: {json.dumps(event)}\n\n"
            yield 'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_sse_server(script: Script) -> Iterator[str]:
    """Serve ``script`` in a background thread; yields the OpenAI-style base URL (…/v1)."""
    port = free_port()
    config = uvicorn.Config(
        make_app(script), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the SSE test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
