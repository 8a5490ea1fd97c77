"""The ASGI application: every service's routes, error handling, middleware, health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

from tessera import __version__, accounts, feed, interactions, media, notifications, posts, web
from tessera.api import files, instance, streaming
from tessera.core.config import Settings
from tessera.core.db import database_unavailable
from tessera.core.errors import TesseraError, Unavailable
from tessera.core.monitoring import metrics_endpoint, serve_metrics
from tessera.core.observability import RequestMiddleware, configure_logging
from tessera.core.ratelimit import ApiBudgetMiddleware
from tessera.core.runtime import Runtime

log = logging.getLogger(__name__)

RETRY_AFTER = "5"
"""Seconds a client is asked to wait (`Retry-After`) while the database is unavailable."""


def create_app(settings: Settings, *, worker: bool = True) -> FastAPI:
    """A ready app; the runtime (database, Redis) opens when the app starts.

    With a broker, the app also consumes its handlers' queue unless `worker` is false.
    """
    configure_logging(settings.log_level)
    runtime = Runtime.open(settings)
    feed.subscribe_handlers(runtime)
    interactions.subscribe_handlers(runtime)
    notifications.subscribe_handlers(runtime)
    posts.use_viewer_marks(interactions.viewer_marks)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        web_push = app.state.web_push = notifications.start_web_push(runtime)
        runtime.start(worker=worker)
        yield
        await web_push.close()
        await runtime.close()

    app = FastAPI(
        title="Tessera",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.runtime = runtime
    _add_error_handlers(app)
    app.include_router(accounts.oauth_router)
    app.include_router(accounts.api_router)
    app.include_router(media.api_router)
    app.include_router(posts.api_router)
    app.include_router(feed.api_router)
    app.include_router(interactions.api_router)
    app.include_router(notifications.api_router)
    app.include_router(notifications.push_router)
    app.include_router(streaming.router)
    app.include_router(instance.router)
    app.include_router(files.router)
    app.include_router(web.router)
    app.mount("/static", files.ImmutableFiles(directory=web.STATIC_DIR), name="static")
    _add_health(app, runtime)
    app.add_route("/metrics", metrics_endpoint(runtime), include_in_schema=False)
    if settings.media_storage == "local":
        media_dir = settings.data_dir / "media"
        media_dir.mkdir(parents=True, exist_ok=True)
        app.mount("/media", files.ImmutableFiles(directory=media_dir), name="media")
    app.add_middleware(ApiBudgetMiddleware, limiter=runtime.limiter, settings=settings)
    app.add_middleware(RequestMiddleware)
    return app


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """`tessera worker`: consume the broker's queue for every service's handlers until
    `stop` is set; no HTTP but `/metrics` on `TESSERA_METRICS_PORT`, when set."""
    if not settings.broker_url:
        raise ValueError("tessera worker needs TESSERA_BROKER_URL")
    configure_logging(settings.log_level)
    runtime = Runtime.open(settings)
    feed.subscribe_handlers(runtime)
    interactions.subscribe_handlers(runtime)
    notifications.subscribe_handlers(runtime)
    posts.use_viewer_marks(interactions.viewer_marks)
    web_push = notifications.start_web_push(runtime)
    runtime.start(worker=True)
    metrics = None
    if settings.metrics_port is not None:
        metrics = await serve_metrics(runtime, settings.metrics_host, settings.metrics_port)
    try:
        await stop.wait()
    finally:
        if metrics is not None:
            metrics.close()
        await web_push.close()
        await runtime.close()


def _add_health(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        if runtime.phase != "serving":  # starting, or draining before it stops
            return JSONResponse({"status": runtime.phase, "checks": {}}, status_code=503)
        checks = await runtime.readiness()
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status_code=200 if healthy else 503,
        )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TesseraError)
    async def tessera_error(request: Request, exc: TesseraError) -> Response:
        if web.wants_page(request):
            return web.error_page(request, exc.status_code, headers=exc.headers)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(sa_exc.DBAPIError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def database_error(request: Request, exc: Exception) -> Response:
        """A lost database is a 503 the client may retry, logged in one line; any other
        database error is a bug, left to become a 500 with its traceback."""
        if not database_unavailable(exc):
            raise exc
        cause = getattr(exc, "orig", None) or exc
        log.warning("database unavailable: %s: %s", type(cause).__name__, _first_line(cause))
        unavailable = Unavailable(
            "The database is unavailable; try again shortly", headers={"Retry-After": RETRY_AFTER}
        )
        return await tessera_error(request, unavailable)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse(
            {"error": f"Validation failed: {where} {first.get('msg', 'is invalid')}".strip()},
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if web.wants_page(request):
            return web.error_page(request, exc.status_code, headers=exc.headers)
        messages = {404: "Record not found", 405: "Method not allowed"}
        text = messages.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": text}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug: Starlette logs it and raises it on after this answer (a page for
        browsers, the plain text it always gave for the API)."""
        if web.wants_page(request):
            return web.error_page(request, 500)
        return PlainTextResponse("Internal Server Error", status_code=500)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0][:200]
