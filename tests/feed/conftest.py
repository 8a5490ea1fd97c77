"""Every feed test runs twice: with fan-out on write, and with every author a celebrity.

The reliability tests instead get a `deployment`: a backend of their own and the real
`tessera` processes they start, stop and kill on it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tessera.core.config import load_settings
from tessera.core.runtime import Runtime
from tests.conftest import AppFactory, MakeBackend
from tests.processes import launch, serve, stop


@pytest.fixture(scope="session")
async def celebrity_client(make_client: AppFactory) -> httpx.AsyncClient:
    """An app whose authors with any follower are all celebrities (read-time merge)."""
    return await make_client(fanout_threshold=0)


@pytest.fixture(params=["fan-out", "celebrities"])
def feed_client(
    request: pytest.FixtureRequest, client: httpx.AsyncClient, celebrity_client: httpx.AsyncClient
) -> httpx.AsyncClient:
    return client if request.param == "fan-out" else celebrity_client


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


@dataclass
class Deployment:
    """A fresh backend, seen by the test through `runtime` (its database and Redis; no
    relay runs in it), and the `tessera` processes the test started on it."""

    runtime: Runtime
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def configure(self, **settings: object) -> None:
        """Settings for the processes started from now on (`broker_url=…` and so on)."""
        self.env.update({f"TESSERA_{name.upper()}": str(value) for name, value in settings.items()})

    def _log(self, kind: str) -> Path:
        return self.logs / f"{len(self.processes)}-{kind}.log"

    async def serve(self, *flags: str) -> Server:
        """`tessera serve <flags>`, once it answers /health/ready."""
        url, process = await asyncio.to_thread(serve, self.env, self._log("serve"), *flags)
        self.processes.append(process)
        return Server(url, process)

    def worker(self) -> subprocess.Popen[bytes]:
        """`tessera worker` (it consumes as soon as it is connected)."""
        process = launch(["worker"], self.env, self._log("worker"))
        self.processes.append(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, as a crash or the OOM killer would: no clean-up of any kind."""
        process.kill()
        process.wait()

    def log_text(self) -> str:
        """Every process's output so far, for failure messages."""
        return "\n".join(
            f"== {log.name}\n{log.read_text()}" for log in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture
async def deployment(make_backend: MakeBackend, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A backend no other test uses, so that no relay of this session (some sweep the
    outbox every few seconds) takes the events of the processes started on it."""
    async with make_backend() as backend:
        runtime = Runtime.open(load_settings(**backend.settings_overrides))
        made = Deployment(runtime, tmp_path, {**os.environ, **backend.env})
        try:
            yield made
        finally:
            for process in made.processes:
                stop(process)
            await runtime.close()
