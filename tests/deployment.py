"""Real `tessera` processes on a backend of their own: what the reliability and
monitoring tests start, stop, kill and watch."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tessera.core.config import load_settings
from tessera.core.runtime import Runtime
from tests.conftest import MakeBackend
from tests.processes import launch, serve, stop

__all__ = ["Deployment", "Server", "open_deployment"]


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


@asynccontextmanager
async def open_deployment(make_backend: MakeBackend, logs: Path) -> AsyncIterator[Deployment]:
    """A backend no other test uses, so that no relay of this session (some sweep the
    outbox every few seconds) takes the events of the processes started on it; they are
    stopped on exit."""
    async with make_backend() as backend:
        runtime = Runtime.open(load_settings(**backend.settings_overrides))
        made = Deployment(runtime, logs, {**os.environ, **backend.env})
        try:
            yield made
        finally:
            for process in made.processes:
                stop(process)
            await runtime.close()
