"""Run a blocking decode loop in a thread and hand its text deltas to the caller's event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bot.generation.types import GenerationError

Push = Callable[[str], None]
# decode(push, cancelled): calls push(delta) for each piece of text; returns when done or
# soon after ``cancelled`` is set; raises on failure.
Decode = Callable[[Push, threading.Event], None]


@dataclass(frozen=True)
class _Finished:
    error: BaseException | None = None


async def stream_from_thread(decode: Decode, *, name: str) -> AsyncIterator[str]:
    """The deltas ``decode`` pushes, as an async stream.

    Closing the stream (the listener left, a grounding check failed, a timeout) sets the
    ``cancelled`` event, which the decode loop checks after every token; an error in the
    thread is raised here as a GenerationError, never lost.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | _Finished] = asyncio.Queue()
    cancelled = threading.Event()

    def push(item: str | _Finished) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def run() -> None:
        try:
            decode(push, cancelled)
            push(_Finished())
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            push(_Finished(exc))

    threading.Thread(target=run, name="supportbot-generate", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Finished):
                if item.error is not None:
                    raise GenerationError(
                        f"{name} failed while generating: {item.error}"
                    ) from item.error
                return
            if item:
                yield item
    finally:
        cancelled.set()
