"""Like → notification on the author's live stream: p50/p99 latency.

The author holds `GET /api/v1/streaming/user/notification` (Server-Sent Events) open;
likers like the author's posts one at a time. The clock runs from sending the
`POST /api/v1/statuses/:id/favourite` (so the request's own work is included) until the
`notification` event's bytes arrive on the stream: commit, outbox relay, the
notification handler's transaction, the hub, and rendering for the viewer.

Embedded: one `tessera serve` process on SQLite. Scaled: a fresh PostgreSQL database and
Redis prefix, and two `tessera serve` processes: the stream is held on one, the likes go
through the other, so every event crosses Redis pub/sub. Targets: p99 under 100 ms
embedded, under 250 ms scaled.

`python bench/notifications.py [--scaled]` prints the table and writes it to
`bench/results/notifications.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from feed import photo
from harness import ROOT, scaled_env, tessera, tessera_env, user_token, warn_if_busy

RESULTS = ROOT / "bench" / "results" / "notifications.md"
STREAM = "/api/v1/streaming/user/notification"
DEADLINE = 10.0
TARGETS = {"embedded": 100.0, "scaled": 250.0}


@dataclass(frozen=True)
class Row:
    backend: str
    kind: str
    rounds: int
    p50_ms: float
    p99_ms: float


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _posts(client: httpx.AsyncClient, token: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        upload = await client.post(
            "/api/v2/media", headers=_auth(token), files={"file": ("p.jpg", photo(), "image/jpeg")}
        )
        status = await client.post(
            "/api/v1/statuses",
            headers=_auth(token),
            data={"status": "bench", "media_ids[]": upload.raise_for_status().json()["id"]},
        )
        ids.append(status.raise_for_status().json()["id"])
    return ids


async def _listen(response: httpx.Response, arrivals: asyncio.Queue[float]) -> None:
    """Put the arrival time of each `notification` event (and of the opening `:)`)."""
    buffer = b""
    async for chunk in response.aiter_raw():
        now = time.perf_counter()
        buffer += chunk
        if buffer.startswith(b":)\n"):
            buffer = buffer[3:]
            arrivals.put_nowait(now)
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            if b"event: notification" in frame:
                arrivals.put_nowait(now)


async def _measure(stream_url: str, act_url: str, rounds: int, warmup: int) -> list[float]:
    author = user_token(stream_url)
    likers = [user_token(act_url) for _ in range(10)]
    async with (
        httpx.AsyncClient(base_url=stream_url, timeout=60) as stream_side,
        httpx.AsyncClient(base_url=act_url, timeout=60) as act_side,
    ):
        posts = await _posts(act_side, author, -(-(rounds + warmup) // len(likers)))
        pairs = [(liker, post) for post in posts for liker in likers][: rounds + warmup]
        arrivals: asyncio.Queue[float] = asyncio.Queue()
        async with stream_side.stream("GET", STREAM, headers=_auth(author)) as response:
            response.raise_for_status()
            listener = asyncio.create_task(_listen(response, arrivals))
            await asyncio.wait_for(arrivals.get(), DEADLINE)  # the stream is open
            latencies = []
            for liker, post in pairs:
                started = time.perf_counter()
                liked = await act_side.post(
                    f"/api/v1/statuses/{post}/favourite", headers=_auth(liker)
                )
                liked.raise_for_status()
                arrived = await asyncio.wait_for(arrivals.get(), DEADLINE)
                latencies.append((arrived - started) * 1000)
            listener.cancel()
    return latencies[warmup:]


def _row(backend: str, kind: str, latencies: list[float]) -> Row:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Row(backend, kind, len(latencies), statistics.median(latencies), cuts[98])


def notification_bench(args: argparse.Namespace) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="tessera-notify-") as tmp:
        env = tessera_env(tmp)
        with tessera(env, Path(tmp)) as url:
            latencies = asyncio.run(_measure(url, url, args.rounds, args.warmup))
        rows.append(_row("embedded", "SQLite, one process", latencies))
    if args.scaled:
        with (
            scaled_env(args) as base,
            tempfile.TemporaryDirectory(prefix="tessera-notify-scaled-") as tmp,
            ExitStack() as servers,
        ):
            env = tessera_env(tmp, base)
            here = servers.enter_context(tessera(env, Path(tmp), "stream-side"))
            there = servers.enter_context(tessera(env, Path(tmp), "like-side"))
            latencies = asyncio.run(_measure(here, there, args.rounds, args.warmup))
        kind = "PostgreSQL + Redis; stream on one process, likes through another"
        rows.append(_row("scaled", kind, latencies))
    return rows


def table(rows: list[Row]) -> str:
    today = datetime.now(UTC).date().isoformat()
    lines = [
        "| path | rounds | p50 | p99 | target (p99) | backend |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        target = TARGETS[row.backend]
        verdict = "met" if row.p99_ms < target else "missed"
        lines.append(
            f"| like → `notification` on the author's SSE stream | {row.rounds} "
            f"| {row.p50_ms:.1f} ms | {row.p99_ms:.1f} ms | < {target:.0f} ms — {verdict} "
            f"| {row.backend} ({row.kind}) |"
        )
    return "\n".join(lines) + f"\n\nMeasured {today}.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scaled", action="store_true", help="also run on PostgreSQL + Redis")
    parser.add_argument("--rounds", type=int, default=200, help="likes timed per backend")
    parser.add_argument("--warmup", type=int, default=20, help="likes before the timed ones")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    warn_if_busy()
    result = table(notification_bench(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(result)
    print(f"\n{result}\n(written to {RESULTS.relative_to(ROOT)})")


if __name__ == "__main__":
    sys.exit(main())
