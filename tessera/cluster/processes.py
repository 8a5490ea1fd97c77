"""The processes `tessera cluster` runs: started in sessions of their own, watched, started
again when they die, and stopped politely, then for good."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Child", "ChildFailed", "answers_ready", "port_free", "say", "service_port"]

RESTART_DELAY = 1.0
"""Seconds before a process that died is started again."""
MAX_RESTART_DELAY = 30.0
"""The delay doubles, up to this, while a process keeps dying within STABLE_SECONDS."""
STABLE_SECONDS = 30.0
POLL = 0.1
"""Seconds between two looks at a process that is starting."""
PR_SET_PDEATHSIG = 1
FIRST_PORT = 10000
"""The lowest port given to a process (below it are many well-known services' ports)."""
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def say(text: str) -> None:
    """One line for the operator, on stdout (the processes log to their own files)."""
    print(f"tessera cluster: {text}", flush=True)


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_ports_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def service_port(host: str, taken: Collection[int] = ()) -> int:
    """A free TCP port below the kernel's range of ephemeral ports. A process that is
    started again listens on the port it had; inside that range, an outgoing connection
    (nginx's to another process, say) could have been given it meanwhile."""
    below = _ephemeral_ports_start()
    while True:
        port = FIRST_PORT + secrets.randbelow(below - FIRST_PORT)
        if port not in taken and port_free(host, port):
            return port


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux can send a child SIGTERM when its parent dies, so that a cluster killed
    with SIGKILL leaves no orphans holding database connections. libc is loaded here, in
    the parent: the child only makes the one system call before it runs its program."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return die_with_parent


_DIE_WITH_PARENT = _parent_death_signal() if sys.platform == "linux" else None


class ChildFailed(Exception):
    """A process exited, or never became ready, while it was starting."""

    def __init__(self, child: Child, reason: str) -> None:
        super().__init__(f"{child.name} {reason}")
        self.child = child


async def answers_ready(host: str, port: int) -> bool:
    """Whether `GET /health/ready` on host:port answers 200 (one HTTP/1.1 request)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, TimeoutError):
        return False
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = f"GET /health/ready HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        status_line = await asyncio.wait_for(reader.readline(), 5)
        return status_line.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def describe(returncode: int) -> str:
    if returncode < 0:
        return signal.Signals(-returncode).name
    return f"status {returncode}"


@dataclass
class Child:
    """One process of the cluster. Its output goes to `log`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    address: tuple[str, int] | None = None
    """Where it answers `/health/ready`, for the processes that serve HTTP."""
    stop_signal: signal.Signals = signal.SIGTERM
    """The signal that asks it to finish what it is doing and exit."""
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)
    started_at: float = 0.0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def spawn(self) -> None:
        """Start it in a session of its own: a Ctrl-C on the terminal reaches only the
        cluster, which then stops the processes in order."""
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_DIE_WITH_PARENT,
            )
        self.started_at = asyncio.get_running_loop().time()
        where = f" on {self.address[0]}:{self.address[1]}" if self.address else ""
        say(f"{self.name} (pid {self.process.pid}){where}")

    async def ready(self, deadline: float) -> None:
        """Return once it answers `/health/ready` with 200; `ChildFailed` if it exits or
        `deadline` (event-loop time) passes first."""
        assert self.process is not None
        assert self.address is not None
        loop = asyncio.get_running_loop()
        while not await answers_ready(*self.address):
            if self.process.returncode is not None:
                raise ChildFailed(self, f"exited with {describe(self.process.returncode)}")
            if loop.time() > deadline:
                raise ChildFailed(self, "did not answer /health/ready in time")
            await asyncio.sleep(POLL)

    async def listening(self, address: tuple[str, int], deadline: float) -> None:
        """Return once something accepts connections at `address` (nginx has bound its
        port); `ChildFailed` if this process exits or `deadline` passes first."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                _, writer = await asyncio.open_connection(*address)
            except OSError:
                if self.process.returncode is not None:
                    raise ChildFailed(
                        self, f"exited with {describe(self.process.returncode)}"
                    ) from None
                if loop.time() > deadline:
                    raise ChildFailed(self, "did not listen in time") from None
                await asyncio.sleep(POLL)
                continue
            writer.close()
            return

    async def keep_running(self, start_deadline: float) -> None:
        """Start it again whenever it dies, until cancelled: after RESTART_DELAY, doubled
        (up to MAX_RESTART_DELAY) each time it dies again within STABLE_SECONDS."""
        loop = asyncio.get_running_loop()
        early_deaths = 0
        while True:
            assert self.process is not None
            code = await self.process.wait()
            early = loop.time() - self.started_at < STABLE_SECONDS
            early_deaths = early_deaths + 1 if early else 0
            delay = min(RESTART_DELAY * 2 ** max(early_deaths - 1, 0), MAX_RESTART_DELAY)
            say(
                f"{self.name} (pid {self.process.pid}) exited with {describe(code)}; "
                f"starting it again in {delay:g} s"
            )
            await asyncio.sleep(delay)
            await self.spawn()
            if self.address is not None:
                try:
                    await self.ready(loop.time() + start_deadline)
                except ChildFailed as exc:
                    say(f"{exc}; see {self.log}")
                    continue
                say(f"{self.name} (pid {self.process.pid}) ready")

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
