"""1000 people like one post at the same moment: every like succeeds and the count is
exact; requests/s recorded.

`tessera seed` makes the people; each logs in (password grant) before the clock starts.
Then all of them send `POST /api/v1/statuses/:id/favourite` at once over 100
connections, and the post's `favourites_count` must have grown by exactly their number.
Embedded: one `tessera serve` on SQLite; `--scaled` adds PostgreSQL + Redis.

`python bench/likes.py [--scaled]` prints the table and writes it to
`bench/results/likes.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from feed import Dataset, seed
from harness import ROOT, log_in, oauth_app, scaled_env, tessera, tessera_env, warn_if_busy

RESULTS = ROOT / "bench" / "results" / "likes.md"
CONNECTIONS = 100


@dataclass(frozen=True)
class Row:
    backend: str
    likers: int
    succeeded: int
    counted: int
    seconds: float
    statuses: str


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tokens(url: str, password: str, count: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=60) as client:
        app = oauth_app(client)
        return [log_in(client, app, f"seed_{i}", password) for i in range(count)]


async def _like_at_once(url: str, tokens: list[str]) -> tuple[Counter[str], int, float]:
    """(how the likes were answered, growth of favourites_count, seconds for all of them)."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        public = await client.get("/api/v1/timelines/public", params={"limit": 1})
        post = public.raise_for_status().json()[0]["id"]

        async def count() -> int:
            status = await client.get(f"/api/v1/statuses/{post}", headers=_auth(tokens[0]))
            found: int = status.raise_for_status().json()["favourites_count"]
            return found

        before = await count()
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(client.post(f"/api/v1/statuses/{post}/favourite", headers=_auth(t)) for t in tokens),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - started
        statuses = Counter(
            str(a.status_code) if isinstance(a, httpx.Response) else type(a).__name__
            for a in answers
        )
        return statuses, await count() - before, seconds


def _run(backend: str, env: dict[str, str], tmp: str, likers: int) -> Row:
    _, password = seed(env, Dataset(users=likers, mean_follows=2, posts=10))
    with tessera(env, Path(tmp)) as url:
        tokens = _tokens(url, password, likers)
        statuses, counted, seconds = asyncio.run(_like_at_once(url, tokens))
    answers = ", ".join(f"{n} × {status}" for status, n in statuses.most_common())
    return Row(backend, likers, statuses["200"], counted, seconds, answers)


def likes_bench(args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="tessera-likes-") as tmp:
        rows = [_run("embedded (SQLite)", tessera_env(tmp), tmp, args.likers)]
    if args.scaled:
        with scaled_env(args) as base, tempfile.TemporaryDirectory(prefix="tessera-likes-") as tmp:
            rows.append(
                _run("scaled (PostgreSQL + Redis)", tessera_env(tmp, base), tmp, args.likers)
            )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| likers at once | succeeded | count grew by | exact? | likes/s | answers | backend |",
        "|---:|---:|---:|---|---:|---|---|",
    ]
    for row in rows:
        exact = "yes" if row.succeeded == row.counted == row.likers else "NO"
        lines.append(
            f"| {row.likers} | {row.succeeded} | {row.counted} | {exact} "
            f"| {row.likers / row.seconds:,.0f} | {row.statuses} | {row.backend} |"
        )
    return "\n".join(lines) + f"\n\nMeasured {datetime.now(UTC).date().isoformat()}.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scaled", action="store_true", help="also run on PostgreSQL + Redis")
    parser.add_argument("--likers", type=int, default=1000, help="people liking at once")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    warn_if_busy()
    rows = likes_bench(args)
    result = table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(result)
    print(f"\n{result}\n(written to {RESULTS.relative_to(ROOT)})")
    if any(row.succeeded != row.likers or row.counted != row.likers for row in rows):
        sys.exit("bench: some likes failed or the count is not exact")


if __name__ == "__main__":
    main()
