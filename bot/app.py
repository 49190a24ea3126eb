"""The FastAPI application factory: routes for chat, health, readiness, metrics and the widget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from bot import __version__
from bot.channels.websocket import websocket_router
from bot.metrics import Metrics
from bot.runtime import Runtime, build_runtime
from bot.settings import Settings


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build an app for ``settings``; pass ``runtime`` to reuse already-loaded models (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Models load before the first request is accepted, off the event loop.
        app.state.runtime = runtime or await run_in_threadpool(build_runtime, settings)
        try:
            yield
        finally:
            if runtime is None:
                app.state.runtime.close()
            app.state.runtime = None

    app = FastAPI(title="supportbot", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.runtime = None
    app.include_router(websocket_router())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        ready = request.app.state.runtime is not None
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(
            generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    @app.get("/", response_class=HTMLResponse)
    async def widget() -> HTMLResponse:
        return HTMLResponse(files("bot").joinpath("static/index.html").read_text("utf-8"))

    return app
