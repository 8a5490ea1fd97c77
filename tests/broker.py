"""RabbitMQ for the tests: its URL, names unique to the session, and a proxy that can cut it.

Tests run against the RabbitMQ on 127.0.0.1:5672 (guest/guest). The session's `broker`
fixture (in `tests/conftest.py`) hands out exchange names and deletes what they declared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aio_pika

from tests.processes import free_port

__all__ = ["RABBIT_URL", "Names", "TcpProxy"]

RABBIT_URL = os.environ.get("TESSERA_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672/")
T = TypeVar("T")


class Names:
    """Exchange names unique to this session; `cleanup()` deletes what they declared."""

    def __init__(self) -> None:
        self.prefix = f"tessera-test-{secrets.token_hex(4)}"
        self.exchanges: list[str] = []

    def exchange(self, stem: str) -> str:
        name = f"{self.prefix}-{stem}"
        self.exchanges.append(name)
        return name

    async def cleanup(self) -> None:
        connection = await aio_pika.connect(RABBIT_URL)
        async with connection:
            channel = await connection.channel()
            for name in self.exchanges:
                for queue in (f"{name}.feed", f"{name}.notifications", f"{name}.dead"):
                    await channel.queue_delete(queue)
                for exchange in (name, f"{name}.dead"):
                    await channel.exchange_delete(exchange)


class TcpProxy:
    """Forwards a loopback port to RabbitMQ while `up`; `down()` refuses new connections
    and cuts the open ones, as a broker that died would.

    It runs its own event loop in a thread, so it keeps forwarding whatever the test's
    loop is doing (blocking calls included).
    """

    def __init__(self, target: str = RABBIT_URL) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[Any]] = set()

    def url(self, broker_url: str = RABBIT_URL) -> str:
        """`broker_url` with its host and port replaced by the proxy's."""
        parts = urlsplit(broker_url)
        credentials = parts.netloc.rpartition("@")[0]
        return parts._replace(netloc=f"{credentials}@127.0.0.1:{self.port}").geturl()

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)

    def up(self) -> None:
        self._call(self._listen())

    def down(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._pipe, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _pipe(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        pipe = asyncio.current_task()
        assert pipe is not None
        self._pipes.add(pipe)
        try:
            await self._forward(client_in, client_out)
        finally:
            self._pipes.discard(pipe)

    async def _forward(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            broker_in, broker_out = await asyncio.open_connection(*self._target)
        except OSError:
            client_out.transport.abort()
            return
        if self._server is None:  # cut while connecting
            client_out.transport.abort()
            broker_out.transport.abort()
            return
        self._open.update((client_out, broker_out))
        try:
            await asyncio.gather(_copy(client_in, broker_out), _copy(broker_in, client_out))
        finally:
            self._open.difference_update((client_out, broker_out))


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either side closes; then close the sink, which ends the other copy."""
    with contextlib.suppress(OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.transport.abort()
