"""JSON logs with a request id on every line, and the Prometheus metrics of every process.

Requests are measured by route here (`RequestMiddleware`); event handlers, the outbox,
the broker's queues, the feed fan-out and photo processing fill the metrics below where
that work happens. A request's id goes with the events it emits (`current_request_id`),
so a worker's log lines about an event carry the id of the request behind it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import sys
import time

import structlog
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "FANOUT_FEEDS",
    "FANOUT_SECONDS",
    "MEDIA_PROCESSING_SECONDS",
    "OUTBOX_OLDEST_SECONDS",
    "OUTBOX_PUBLISH_DELAY",
    "QUEUE_MESSAGES",
    "RequestMiddleware",
    "configure_logging",
    "current_request_id",
    "event_handled",
    "request_context",
]

log = structlog.get_logger("tessera.http")
events_log = structlog.get_logger("tessera.events")

REQUESTS = Counter(
    "tessera_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "tessera_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
EVENT_SECONDS = Histogram(
    "tessera_event_handling_seconds",
    "Time one handler group's handlers took over one event",
    ["group", "topic"],
    buckets=_SECONDS,
)
EVENT_FAILURES = Counter(
    "tessera_event_handling_failures_total",
    "Events on which a handler of the group raised (redelivered with a broker)",
    ["group", "topic"],
)
QUEUE_MESSAGES = Gauge(
    "tessera_queue_messages",
    "Messages ready in a handler group's broker queue, read when /metrics is scraped",
    ["queue"],
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "tessera_outbox_oldest_unpublished_seconds",
    "Age of the oldest committed event not yet handed over (0: none waits), read when "
    "/metrics is scraped",
)
OUTBOX_PUBLISH_DELAY = Histogram(
    "tessera_outbox_publish_delay_seconds",
    "From an event's emission to its hand-over to the broker (or in-process handlers)",
    buckets=_SECONDS,
)
FANOUT_SECONDS = Histogram(
    "tessera_feed_fanout_seconds",
    "Time to push one post into its followers' home feeds",
    buckets=_SECONDS,
)
FANOUT_FEEDS = Counter("tessera_feed_fanout_feeds_total", "Home feeds written by fan-outs")
MEDIA_PROCESSING_SECONDS = Histogram(
    "tessera_media_processing_seconds",
    "Time to validate and render one uploaded image (decoding, variants, blurhash)",
    ["kind"],
    buckets=_SECONDS,
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def configure_logging(level: str) -> None:
    """One JSON object per line on stdout; the stdlib loggers (uvicorn's) go the same way."""
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*processors, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=processors,
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True


class RequestMiddleware:
    """Gives each request an id (echoed as `X-Request-Id`), then logs and measures it.

    The log line names the route template, never the query string, so no token, e-mail
    or password typed into a URL reaches the logs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or secrets.token_hex(8)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


def current_request_id() -> str | None:
    """The id of the request this code runs for, if it runs for one."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def request_context(request_id: str | None) -> contextlib.AbstractContextManager[None]:
    """Log lines written inside carry `request_id` (when there is one)."""
    if request_id is None:
        return contextlib.nullcontext()
    return structlog.contextvars.bound_contextvars(request_id=request_id)


def event_handled(group: str, topic: str, event_id: int, seconds: float, ok: bool) -> None:
    """Measure one event's handling and log it in one line, as requests are."""
    EVENT_SECONDS.labels(group, topic).observe(seconds)
    if not ok:
        EVENT_FAILURES.labels(group, topic).inc()
    events_log.info(
        "event",
        group=group,
        topic=topic,
        event_id=event_id,
        outcome="ok" if ok else "failed",
        duration_ms=round(seconds * 1000, 2),
    )
