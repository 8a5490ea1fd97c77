"""Home timeline throughput through nginx with 1, 2 and 3 API processes.

`tessera seed` fills a fresh PostgreSQL database (Redis prefix, RabbitMQ exchange) once
with the small data set of `bench/feed.py` (10k users, 100 follows each on average, 200k
posts). Then, for each N, `tessera cluster --api N --workers 1` runs nginx in front of N
`tessera serve --no-worker` processes, and wrk reads `GET /api/v1/timelines/home?limit=20`
through nginx, rotating over the tokens of 200 seeded users (their feeds built by a first
read), as `bench/feed.py` does against one process. The Ns take turns over `--rounds`
rounds (each cluster started afresh) and the median is reported, so that a change in the
machine's load hits every N alike; beside them the ceiling app of `bench/feed.py`
answering one of those pages, in the same run.

On a machine of C cores, N processes can scale up to about min(N, C) times one process,
less what PostgreSQL, Redis, nginx and wrk take of the same cores. So each run also
records where the CPU went (`bench/stack.py`, from /proc): cores kept busy by the API
processes, by the rest of the stack and wrk, and by other work on the machine (other
people's tests, say), which the numbers must be read beside.

`python bench/scaling.py` (about 6 minutes) prints the table and writes it to
`bench/results/scaling.md`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feed import HOME, SMALL, readers, rotation, seed
from harness import (
    ROOT,
    Measure,
    broker_exchange,
    ceiling,
    cluster,
    ensure_wrk,
    run_wrk,
    scaled_env,
    tessera_env,
    warn_if_busy,
    wrk_options,
)
from stack import Stack

__all__ = ["Seeded", "scaling_options", "seeded"]

RESULTS = ROOT / "bench" / "results" / "scaling.md"
CLUSTER_ENV = {
    # At most 8 connections per process: three API processes and a worker stay far below
    # PostgreSQL's 100 beside a test session, and 8 is plenty for 2 cores.
    "TESSERA_DATABASE_POOL_SIZE": "8",
    "TESSERA_DATABASE_MAX_OVERFLOW": "0",
    # The cluster must be gone before harness.process() gives up waiting (15 s).
    "TESSERA_SHUTDOWN_TIMEOUT": "2",
}


@dataclass(frozen=True)
class Seeded:
    env: dict[str, str]
    workdir: Path
    password: str
    seed_s: float


def scaling_options(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark on a seeded `tessera cluster`."""
    wrk_options(parser)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--readers", type=int, default=200, help="users whose tokens rotate")


@contextmanager
def seeded(args: argparse.Namespace) -> Iterator[Seeded]:
    """The small data set in a fresh database, Redis prefix and broker exchange, with the
    environment of the clusters that serve it; all removed afterwards."""
    with (
        scaled_env(args) as services,
        broker_exchange(args.broker) as broker,
        tempfile.TemporaryDirectory(prefix="tessera-cluster-bench-") as tmp,
    ):
        env = tessera_env(tmp, {**services, **broker, **CLUSTER_ENV})
        seconds, password = seed(env, SMALL)
        yield Seeded(env, Path(tmp), password, seconds)


@dataclass(frozen=True)
class Run:
    measure: Measure
    api: float
    """Cores the API processes kept busy."""
    rest: float
    """Cores nginx, PostgreSQL, Redis, the worker, RabbitMQ and wrk kept busy."""
    others: float
    """Cores the rest of the machine kept busy (other work than this benchmark)."""


@dataclass(frozen=True)
class Row:
    processes: int
    runs: list[Run]

    @property
    def median(self) -> Run:
        return sorted(self.runs, key=lambda run: run.measure.rps)[len(self.runs) // 2]


def timed_run(wrk: str, args: argparse.Namespace, stack: Stack, tokens: list[str]) -> Run:
    """wrk through nginx, and where the CPU went meanwhile."""
    with rotation(tokens) as script:
        before = stack.sample()
        measured = run_wrk(wrk, stack.cluster.url + HOME, args, script=script)
        after = stack.sample()
    seconds = after.at - before.at
    used = after.since(before)
    rest = sum(used.values()) - used["api"] + after.own - before.own
    return Run(measured, used["api"] / seconds, rest / seconds, after.others(before) / seconds)


def measure(wrk: str, args: argparse.Namespace) -> tuple[list[Row], Measure, Seeded, bytes]:
    """Each N's runs, round after round, and the ceiling."""
    runs: dict[int, list[Run]] = {n: [] for n in args.apis}
    with seeded(args) as data:
        tokens: list[str] = []
        body = b""
        for round_number in range(1, args.rounds + 1):
            for n in args.apis:
                with cluster(data.env, data.workdir, api=n) as running:
                    if not tokens:
                        tokens, body = readers(running.url, SMALL, data.password, args.readers)
                    stack = Stack.of(running, data.env, args.pg, args.redis)
                    runs[n].append(timed_run(wrk, args, stack, tokens))
                done = runs[n][-1]
                print(
                    f"bench: round {round_number}, {n} API processes: {done.measure.rps:,.0f} "
                    f"req/s; cores: API {done.api:.2f}, rest {done.rest:.2f}, "
                    f"others {done.others:.2f}"
                )
    with ceiling(body) as top_url:
        top = run_wrk(wrk, top_url, args)
    print(f"bench: ceiling {top.rps:,.0f} req/s")
    return [Row(n, runs[n]) for n in args.apis], top, data, body


def table(rows: list[Row], top: Measure, args: argparse.Namespace) -> str:
    one = rows[0].median.measure.rps
    lines = [
        f"| API processes | req/s (median of {args.rounds}) | all runs (cores busy with other "
        "work) | p50 | p99 | ratio to 1 process | ratio to the ceiling | cores busy: API "
        "processes / rest of the stack and wrk |",
        "|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        median = row.median
        m = median.measure
        each = ", ".join(f"{run.measure.rps:,.0f} ({run.others:.2f})" for run in row.runs)
        lines.append(
            f"| {row.processes} | {m.rps:,.0f} | {each} | {m.p50_ms:,.0f} ms "
            f"| {m.p99_ms:,.0f} ms | {m.rps / one:.2f} | {m.rps / top.rps:.4f} "
            f"| {median.api:.2f} / {median.rest:.2f} |"
        )
    lines.append(
        f"| ceiling app, 1 process, no nginx | {top.rps:,.0f} | | {top.p50_ms:.1f} ms "
        f"| {top.p99_ms:.1f} ms | | 1 | |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    scaling_options(parser)
    parser.add_argument("--apis", type=int, nargs="+", default=[1, 2, 3], help="N to measure")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each N (median)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    warn_if_busy()
    load_before = os.getloadavg()
    started = time.monotonic()
    rows, top, data, body = measure(wrk, args)
    load_after = os.getloadavg()
    minutes = (time.monotonic() - started) / 60
    notes = (
        f"{SMALL.label} (seeded in {data.seed_s / 60:.1f} min), page of "
        f"{len(body) / 1024:.0f} KB; `wrk -t{args.threads} -c{args.connections}`, "
        f"{args.duration} s after {args.warmup} s of warm-up, through nginx; "
        f"{os.cpu_count()} cores; measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
        f"{minutes:.0f} min; load average (1 min) {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after.\n"
    )
    result = f"{table(rows, top, args)}\n{notes}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(result)
    print(f"\n{result}\n(written to {RESULTS.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
