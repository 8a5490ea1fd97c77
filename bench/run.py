"""`make bench`: Tessera's authenticated req/s beside a ceiling measured in the same run.

Starts `tessera serve` (embedded; with `--scaled` also on PostgreSQL + Redis) and the
minimal app in `bench/ceiling.py`, each one process on a free port, drives both with
`wrk --latency`; then times the photo pipeline (`bench/media.py`), and the home timeline
and fan-out on seeded data sets (`bench/feed.py`). Prints the Markdown tables and writes
them to `bench/results/latest.md`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import feed
import media
from harness import (
    ROOT,
    Measure,
    ceiling,
    ensure_wrk,
    run_wrk,
    scaled_env,
    tessera,
    tessera_env,
    user_token,
    warn_if_busy,
    wrk_options,
)

RESULTS = ROOT / "bench" / "results" / "latest.md"
ENDPOINT = "/api/v1/accounts/verify_credentials"


def bench_tessera(wrk: str, args: argparse.Namespace, extra: dict[str, str]) -> Measure:
    with (
        tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp,
        tessera(tessera_env(tmp, extra), Path(tmp)) as url,
    ):
        return run_wrk(wrk, url + ENDPOINT, args, user_token(url))


def bench_ceiling(wrk: str, args: argparse.Namespace) -> Measure:
    with ceiling() as url:
        return run_wrk(wrk, url, args)


def table(rows: list[tuple[str, Measure, Measure]]) -> str:
    today = datetime.now(UTC).date().isoformat()
    lines = [
        "| endpoint | req/s | p50 | p99 | ceiling req/s | ratio | backend | date | machine |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for backend, m, top in rows:
        lines.append(
            f"| `GET {ENDPOINT}` | {m.rps:,.0f} | {m.p50_ms:.2f} ms | {m.p99_ms:.2f} ms "
            f"| {top.rps:,.0f} | {m.rps / top.rps:.2f} | {backend} | {today} "
            f"| {os.cpu_count()} cores |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scaled", action="store_true", help="also run on PostgreSQL + Redis")
    parser.add_argument("--photo-runs", type=int, default=7, help="timed runs per pipeline")
    parser.add_argument("--uploads", type=int, default=20, help="photo uploads timed in total")
    parser.add_argument("--no-feed", action="store_true", help="skip the feed benchmark")
    wrk_options(parser)
    feed.feed_options(parser)
    args = parser.parse_args()
    wrk = ensure_wrk()
    warn_if_busy()
    rows: list[tuple[str, Measure, Measure]] = []
    for scaled in [False, True] if args.scaled else [False]:
        top = bench_ceiling(wrk, args)  # measured next to each run: the same machine load
        if scaled:
            with scaled_env(args) as env:
                rows.append(("scaled (PostgreSQL + Redis)", bench_tessera(wrk, args, env), top))
        else:
            rows.append(("embedded (SQLite)", bench_tessera(wrk, args, {}), top))
        print(f"bench: {rows[-1][0]}: {rows[-1][1].rps:,.0f} req/s, ceiling {top.rps:,.0f}")
    result = f"{table(rows)}\n{media.photo_bench(args.photo_runs, args.uploads)}"
    if not args.no_feed:
        result += f"\n{feed.feed_bench(wrk, args)}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(result)
    print(f"\n{result}\n(written to {RESULTS.relative_to(ROOT)})")


if __name__ == "__main__":
    sys.exit(main())
