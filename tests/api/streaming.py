"""Clients of the streaming API for the tests: a Server-Sent Events reader that keeps
Mastodon's framing visible, and steps against a real `tessera serve` process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.accounts.helpers import bearer
from tests.conftest import Backend
from tests.processes import serve, stop

DEADLINE = 15.0
"""Seconds an event may take to arrive (it usually takes milliseconds)."""
HEARTBEAT = "0.5"
"""`TESSERA_STREAMING_HEARTBEAT` of the test servers: revocations show within a second."""
USER = "/api/v1/streaming/user"


@dataclass(frozen=True)
class Frame:
    """One thing read from an event stream: a comment (`event` empty) or an event."""

    event: str
    data: str

    def json(self) -> Any:
        return orjson.loads(self.data)


class EventStream:
    """Reads an open `text/event-stream` answer frame by frame, splitting on LF alone
    (as Mastodon.py does), so a stray CR or a missing space would show."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = self._split()

    async def _split(self) -> AsyncIterator[str]:
        buffer = b""
        async for chunk in self.response.aiter_raw():
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.decode()

    async def frame(self) -> Frame | None:
        """The next frame, or None once the server ended the stream."""
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line.startswith(":"):
                assert not fields, "a comment inside an event"
                return Frame("", line[1:])
            if line == "":
                assert "event" in fields, f"an event without a name: {fields}"
                return Frame(fields["event"], fields.get("data", ""))
            key, separator, value = line.partition(": ")
            assert separator, f"not a `key: value` line: {line!r}"
            fields[key] = value
        return None

    async def event(self) -> Frame:
        """The next event, skipping heartbeats, within the deadline."""

        async def wait() -> Frame:
            while (frame := await self.frame()) is not None:
                if frame.event:
                    return frame
            raise AssertionError("the stream ended")

        return await asyncio.wait_for(wait(), DEADLINE)

    async def ended(self) -> bool:
        """Whether the server ends the stream within the deadline."""

        async def drain() -> None:
            while await self.frame() is not None:
                pass

        await asyncio.wait_for(drain(), DEADLINE)
        return True


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, token: str, path: str = USER
) -> AsyncIterator[EventStream]:
    """An SSE stream, once the server said it is open (`:)`); from then on nothing sent
    to it is missed."""
    async with http.stream("GET", path, headers=bearer(token), timeout=DEADLINE * 4) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        stream = EventStream(response)
        assert await asyncio.wait_for(stream.frame(), DEADLINE) == Frame("", ")")
        yield stream


@contextmanager
def running_server(backend: Backend, log: Path) -> Iterator[str]:
    """A `tessera serve` process on the session's backend with quick heartbeats; fails
    the test if it logged an error."""
    env = {**os.environ, **backend.env, "TESSERA_STREAMING_HEARTBEAT": HEARTBEAT}
    url, process = serve(env, log)
    try:
        yield url
    finally:
        stop(process)
    errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
    assert not errors, "the server logged errors:\n" + "\n".join(errors)
