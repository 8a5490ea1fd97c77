"""Where the CPU goes while a benchmark drives a `tessera cluster`, from /proc: each part
of the stack (API processes, nginx, the PostgreSQL backends of the run's database,
redis-server, the worker, RabbitMQ) and everything else the machine runs meanwhile."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from harness import Cluster
from redis import Redis

__all__ = ["PARTS", "Sample", "Stack", "fetch"]

PARTS = ("api", "nginx", "postgres", "redis", "worker", "rabbitmq")
TICK = os.sysconf("SC_CLK_TCK")
BUSY = (0, 1, 2, 5, 6, 7)
"""Fields of /proc/stat's `cpu` line that are busy time: user, nice, system, irq, softirq,
steal (guest time is inside user)."""


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name; None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, all its threads together."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / TICK


def children(parent: int) -> list[int]:
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if (fields := _stat(pid)) and int(fields[1]) == parent]


def named(command: str) -> list[int]:
    """The pids of the processes running `command` (their comm)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == command:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def machine_busy() -> float:
    """CPU-seconds all cores together spent busy since boot, exited processes included."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(fields[i]) for i in BUSY) / TICK


def own_seconds() -> float:
    """CPU time of this process and of the children it waited for (wrk)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def fetch(url: str, sql: str, *params: object) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url)
        try:
            rows: list[asyncpg.Record] = await connection.fetch(sql, *params)
            return rows
        finally:
            await connection.close()

    return asyncio.run(run())


@dataclass(frozen=True)
class Sample:
    at: float
    cpu: dict[str, dict[int, float | None]]
    machine: float
    own: float

    def since(self, before: Sample) -> dict[str, float]:
        """CPU-seconds each part used since `before` (a process started since counts whole;
        one that ended meanwhile, a PostgreSQL backend or nginx's cache loader, is missed)."""
        used: dict[str, float] = {}
        for part, now in self.cpu.items():
            then = before.cpu[part]
            if part in ("api", "worker") and set(then) - set(now):
                sys.exit(f"bench: a {part} process was restarted during the measurement")
            used[part] = sum(
                seconds - (then.get(pid) or 0.0) for pid, seconds in now.items() if seconds
            )
        return used

    def others(self, before: Sample) -> float:
        """CPU-seconds the rest of the machine used since `before`: neither the stack nor
        this process and its wrk runs (other people's tests, say)."""
        ours = sum(self.since(before).values()) + self.own - before.own
        return max(0.0, self.machine - before.machine - ours)


@dataclass(frozen=True)
class Stack:
    """The processes behind one `tessera cluster` and its backing services."""

    cluster: Cluster
    admin_url: str
    database: str
    redis_pid: int

    @classmethod
    def of(cls, running: Cluster, env: dict[str, str], admin_url: str, redis_url: str) -> Stack:
        """The stack of a cluster started with `env` (harness.scaled_env's database)."""
        database = env["TESSERA_DATABASE_URL"].rsplit("/", 1)[1]
        redis = Redis.from_url(redis_url)
        try:
            pid = int(redis.info("server")["process_id"])
        finally:
            redis.close()
        return cls(running, admin_url, database, pid)

    @property
    def database_url(self) -> str:
        return f"{self.admin_url.rsplit('/', 1)[0]}/{self.database}"

    def pids(self) -> dict[str, list[int]]:
        nginx = self.cluster.pids("nginx")
        activity = "SELECT pid FROM pg_stat_activity WHERE datname = $1"
        return {
            "api": self.cluster.pids("api"),
            "nginx": [*nginx, *(child for master in nginx for child in children(master))],
            "postgres": [row["pid"] for row in fetch(self.admin_url, activity, self.database)],
            "redis": [self.redis_pid],
            "worker": self.cluster.pids("worker"),
            "rabbitmq": named("beam.smp"),
        }

    def sample(self) -> Sample:
        pids = self.pids()
        return Sample(
            time.monotonic(),
            {part: {pid: cpu_seconds(pid) for pid in ids} for part, ids in pids.items()},
            machine_busy(),
            own_seconds(),
        )
