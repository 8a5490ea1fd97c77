"""Graceful shutdown of `tessera serve`: on SIGTERM it stops accepting connections,
finishes the requests under way (at most TESSERA_SHUTDOWN_TIMEOUT seconds), and
reports itself not ready from then on; before it has started, it is not ready either."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tessera.api import create_app
from tessera.core.config import load_settings
from tests.conftest import Backend, register_oauth_client, sign_up_user
from tests.processes import serve, stop

SHUTDOWN_TIMEOUT = 3
DEADLINE = 30.0


async def test_readiness_is_a_503_while_starting_and_while_draining(backend: Backend) -> None:
    app = create_app(load_settings(**backend.settings_overrides))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as http:
        starting = await http.get("/health/ready")
        async with app.router.lifespan_context(app):
            serving = await http.get("/health/ready")
            app.state.runtime.drain()  # what the server does first on SIGTERM
            draining = await http.get("/health/ready")
            alive = await http.get("/health/live")

    assert (starting.status_code, starting.json()["status"]) == (503, "starting")
    assert (serving.status_code, serving.json()["status"]) == (200, "ok")
    assert (draining.status_code, draining.json()["status"]) == (503, "draining")
    assert alive.status_code == 200, "alive all along: nothing to restart"


async def started_request(
    url: str, token: str, body: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Sends a request's head with `Expect: 100-continue` and returns once the server
    asks for the body: from then on the request is under way in the application."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        "PATCH /api/v1/accounts/update_credentials HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    writer.write(head.encode())
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE) == (
        b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    return reader, writer


async def refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        _, writer = await asyncio.open_connection(parts.hostname, parts.port)
    except ConnectionRefusedError:
        return True
    await closed(writer)
    return False


async def closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def test_sigterm_finishes_the_requests_under_way_and_no_more(
    backend: Backend, tmp_path: Path
) -> None:
    env = {**os.environ, **backend.env, "TESSERA_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)}
    url, process = await asyncio.to_thread(serve, env, tmp_path / "server.log")
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            user = await sign_up_user(http, await register_oauth_client(http), "leaving")
        body = b"display_name=Finished+anyway"
        reader, finishing = await started_request(url, user.token, body)
        _, stuck = await started_request(url, user.token, body)  # its body never comes

        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        deadline = signalled + DEADLINE
        while not await refused(url):
            assert time.monotonic() < deadline, "still accepting connections"
            await asyncio.sleep(0.05)  # a poll interval
        finishing.write(body)
        answer = await asyncio.wait_for(reader.read(), DEADLINE)
        exit_code = await asyncio.to_thread(process.wait, DEADLINE)
        stopped_after = time.monotonic() - signalled
        await closed(finishing)
        await closed(stuck)
    finally:
        stop(process)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", answer
    assert b'"display_name":"Finished anyway"' in rest
    assert exit_code in {0, -signal.SIGTERM}
    assert SHUTDOWN_TIMEOUT - 0.5 <= stopped_after < SHUTDOWN_TIMEOUT + 10, (
        "the stuck request held the server for the shutdown timeout, and no longer"
    )
