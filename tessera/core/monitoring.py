"""`/metrics` for Prometheus on every process, and the Prometheus configuration that
scrapes them.

The API serves `/metrics` on its own port (`metrics_endpoint`); `tessera worker`, which
has no HTTP server, answers it on a small listener of its own (`serve_metrics`,
`TESSERA_METRICS_PORT` or `--metrics-port`). Counters and histograms move as the work
happens (`core.observability`); the gauges of things read rather than counted (the
outbox's oldest waiting event, the depth of this process's queues) are read when
Prometheus scrapes, so nothing runs while nobody watches.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from tessera.core.observability import OUTBOX_OLDEST_SECONDS, QUEUE_MESSAGES
from tessera.core.runtime import Runtime

__all__ = [
    "metrics_endpoint",
    "prometheus_config",
    "refresh_gauges",
    "serve_metrics",
    "write_prometheus_config",
]

log = logging.getLogger(__name__)

READ_SECONDS = 2.0
"""How long a scrape waits for the database or the broker before answering without
fresh gauges (the previous values stay)."""
SCRAPE_INTERVAL = 15
"""Seconds between two scrapes of each process in the written configuration."""


async def refresh_gauges(runtime: Runtime) -> None:
    """Read the outbox's oldest waiting event and the ready messages of every queue this
    process consumes; what does not answer in time keeps its previous value."""
    readings: list[tuple[str, Awaitable[object]]] = [("outbox", _read_outbox(runtime))]
    readings += [
        (consumer.queue_name, _read_queue(consumer.queue_name, consumer.depth()))
        for consumer in runtime.consumers.values()
    ]
    results = await asyncio.gather(
        *(asyncio.wait_for(reading, READ_SECONDS) for _, reading in readings),
        return_exceptions=True,
    )
    for (what, _), result in zip(readings, results, strict=True):
        if isinstance(result, Exception):
            log.warning("metrics: could not read %s: %s", what, type(result).__name__)


async def _read_outbox(runtime: Runtime) -> None:
    OUTBOX_OLDEST_SECONDS.set(await runtime.relay.oldest_waiting())


async def _read_queue(name: str, depth: Awaitable[int | None]) -> None:
    messages = await depth
    if messages is not None:
        QUEUE_MESSAGES.labels(name).set(messages)


def metrics_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    """The API's `/metrics` route."""

    async def metrics(_: Request) -> Response:
        await refresh_gauges(runtime)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return metrics


async def serve_metrics(runtime: Runtime, host: str, port: int) -> asyncio.Server:
    """A listener answering `GET /metrics` (and 404 to anything else), for processes
    without an HTTP server; close the returned server to stop it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method in (b"GET", b"HEAD") and path == b"/metrics":
                await refresh_gauges(runtime)
                status, kind, body = b"200 OK", CONTENT_TYPE_LATEST.encode(), generate_latest()
            else:
                status, kind, body = b"404 Not Found", b"text/plain", b"Not found\n"
            writer.write(
                b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % (status, kind, len(body))
            )
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that sent no request, or left: nothing to answer
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port, reuse_address=True)


def prometheus_config(jobs: Mapping[str, Sequence[str]], interval: int = SCRAPE_INTERVAL) -> str:
    """A Prometheus configuration (YAML) scraping `/metrics` of every target: job name →
    its `host:port` targets (e.g. `tessera-api` and `tessera-worker`)."""
    lines = [
        "# Prometheus: scrape /metrics of every Tessera process.",
        "# Written by tessera.core.monitoring.prometheus_config().",
        "global:",
        f"  scrape_interval: {interval}s",
        f"  evaluation_interval: {interval}s",
        "scrape_configs:",
    ]
    for job, targets in jobs.items():
        lines += [
            f"  - job_name: {json.dumps(job)}",
            "    metrics_path: /metrics",
            "    static_configs:",
            f"      - targets: [{', '.join(json.dumps(target) for target in targets)}]",
        ]
    return "\n".join(lines) + "\n"


def write_prometheus_config(path: Path, jobs: Mapping[str, Sequence[str]]) -> Path:
    """Write `prometheus_config(jobs)` to `path` (for `prometheus --config.file`)."""
    path.write_text(prometheus_config(jobs))
    return path
