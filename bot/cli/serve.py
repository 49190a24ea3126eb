"""`supportbot serve`: the WebSocket chat server."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from bot.cli.common import console
from bot.settings import Settings


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the WebSocket chat, health, readiness, metrics and the demo widget."""
    import uvicorn

    from bot.app import create_app

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    console.print(f"serving on http://{settings.host}:{settings.port} (chat at /ws/chat)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
