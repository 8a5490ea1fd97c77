"""`make bench`, feeds: the home timeline on seeded data sets, and fan-out to 10k and 100k
followers, each beside a ceiling measured in the same run.

Home timeline: for each data set (10k users, 100 follows each on average, 200k posts;
with `--large` also 100k users / 2M posts), `tessera seed` fills a fresh PostgreSQL
database (and Redis prefix), then one `tessera serve` process answers. A random sample of
seeded users logs in (password grant) and reads its home timeline once, which builds the
feed; wrk then reads `GET /api/v1/timelines/home?limit=20` rotating over their tokens
(a Lua script), beside `bench/ceiling.py` answering the bytes of one of those pages. The
small data set is also seeded into SQLite, for the embedded backend.

Fan-out, in the small data set's database: two authors with 10k and 100k followers
(bulk-inserted; the fan-out threshold raised above 100k), each posts through the API.
The clock runs from sending the POST (so the POST's own work is included) until every
follower's Redis feed holds the post: the feeds of 256 random followers are polled until
all hold it (the figure; the server writes feeds in batches, one after another, so the
rest are done within about a batch), then every feed is checked by a Lua script, and the
time when that check returns is an upper bound. Beside it, `redis-cli --pipe` sends the
same ZADD + ZREMRANGEBYRANK per follower to fresh keys in the same run: Redis's own pace.
Each author's follower-id query is timed on its own.

`python bench/feed.py` runs this part alone and prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyvips
from harness import (
    Measure,
    ceiling,
    ensure_wrk,
    log_in,
    oauth_app,
    run_wrk,
    scaled_env,
    tessera,
    tessera_env,
    warn_if_busy,
    wrk_options,
)
from redis import Redis

from tessera import accounts
from tessera.core.config import Settings, load_settings
from tessera.core.db import session_scope
from tessera.core.ids import new_id
from tessera.core.runtime import Runtime
from tessera.feed.stores import feed_key

__all__ = ["feed_bench", "feed_options"]

HOME = "/api/v1/timelines/home?limit=20"
TARGET_RATIO = 0.5
FANOUT_TARGETS = {10_000: 0.5, 100_000: 2.0}
"""Followers → seconds allowed from commit until every follower's feed has the post."""
PROBE = 256
INSERT_BATCH = 5000
FANOUT_TIMEOUT = 120.0
PASSWORD = "fan-out-bench-password"  # noqa: S105 - throwaway accounts of a bench
MISSING = """
-- ARGV: a post id, feed keys joined by commas (one argument, so that a check of 100k
-- feeds costs the client almost nothing). The keys of the feeds that lack the post.
local missing = {}
for key in string.gmatch(ARGV[2], '[^,]+') do
  if not redis.call('ZSCORE', key, ARGV[1]) then missing[#missing + 1] = key end
end
return missing
"""


@dataclass(frozen=True)
class Dataset:
    users: int
    mean_follows: int
    posts: int

    @property
    def label(self) -> str:
        return f"{_short(self.users)} users / {_short(self.posts)} posts"


def _short(count: int) -> str:
    return f"{count // 1_000_000}M" if count >= 1_000_000 else f"{count // 1000}k"


SMALL = Dataset(10_000, 100, 200_000)
LARGE = Dataset(100_000, 100, 2_000_000)


@dataclass(frozen=True)
class HomeRow:
    dataset: Dataset
    backend: str
    seed_s: float
    body_bytes: int
    tessera: Measure
    alone: Measure
    """One connection: the latency of a request that waits for no other."""
    ceiling: Measure


@dataclass(frozen=True)
class Delivery:
    """Seconds from sending the POST until every follower's feed holds the post."""

    seen_s: float
    """When a probe of random followers' feeds all held it (confirmed by a full check)."""
    bound_s: float
    """When that full check came back: an upper bound."""
    post_ms: float
    """The POST request alone (included in both)."""


@dataclass(frozen=True)
class FanoutRow:
    followers: int
    tessera: Delivery
    pipe_s: float
    ids_query_ms: float


def feed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--large", action="store_true", help="also the 100k users / 2M posts set")
    parser.add_argument("--readers", type=int, default=200, help="users whose tokens rotate")
    parser.add_argument("--fanout-runs", type=int, default=3, help="posts per author (median)")


# -- seeding and reading ------------------------------------------------------------------


def seed(env: dict[str, str], dataset: Dataset) -> tuple[float, str]:
    """`tessera seed` the data set; (seconds taken, the seeded users' password)."""
    started = time.perf_counter()
    options = f"--users {dataset.users} --mean-follows {dataset.mean_follows}"
    options += f" --posts {dataset.posts} --seed 1"
    done = subprocess.run(
        [sys.executable, "-m", "tessera", "seed", *options.split()],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    found = re.search(r"the password (\S+)", done.stdout)
    if found is None:
        sys.exit(f"bench: no password in `tessera seed` output:\n{done.stdout}")
    print(f"bench: seeded {dataset.label} in {seconds:.0f} s")
    return seconds, found[1]


def readers(url: str, dataset: Dataset, password: str, count: int) -> tuple[list[str], bytes]:
    """Tokens of a random sample of seeded users, each feed built by a first read; and the
    median-sized page they read (the ceiling answers a body of that size)."""
    names = [f"seed_{i}" for i in random.Random(2).sample(range(dataset.users), count)]
    with httpx.Client(base_url=url, timeout=60) as client:
        app = oauth_app(client)
        tokens = [log_in(client, app, name, password) for name in names]
        pages = [
            client.get(HOME, headers={"Authorization": f"Bearer {token}"})
            .raise_for_status()
            .content
            for token in tokens
        ]
    return tokens, sorted(pages, key=len)[len(pages) // 2]


@contextmanager
def rotation(tokens: list[str]) -> Iterator[Path]:
    """A wrk Lua script sending each request with the next token."""
    listed = ",".join(f'"{token}"' for token in tokens)
    script = f"""
local tokens = {{{listed}}}
local n = 0
request = function()
  n = n % #tokens + 1
  return wrk.format("GET", "{HOME}", {{["Authorization"] = "Bearer " .. tokens[n]}})
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        yield Path(file.name)


def home_row(
    wrk: str, args: argparse.Namespace, env: dict[str, str], workdir: Path, dataset: Dataset
) -> HomeRow:
    backend = "scaled (PostgreSQL + Redis)" if "TESSERA_REDIS_URL" in env else "embedded (SQLite)"
    seconds, password = seed(env, dataset)
    with tessera(env, workdir) as url:
        tokens, body = readers(url, dataset, password, args.readers)
        with rotation(tokens) as script:
            mine = run_wrk(wrk, url + HOME, args, script=script)
            one = argparse.Namespace(**{**vars(args), "connections": 1, "threads": 1})
            alone = run_wrk(wrk, url + HOME, one, script=script)
    with ceiling(body) as top_url:
        top = run_wrk(wrk, top_url, args)
    print(f"bench: home, {dataset.label}, {backend}: {mine.rps:,.0f} req/s, ceiling {top.rps:,.0f}")
    return HomeRow(dataset, backend, seconds, len(body), mine, alone, top)


# -- fan-out ------------------------------------------------------------------------------


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a server started with `env` has."""
    overrides = {
        name.removeprefix("TESSERA_").lower(): value
        for name, value in env.items()
        if name.startswith("TESSERA_")
    }
    return load_settings(**overrides)


async def make_authors(settings: Settings, sizes: list[int]) -> tuple[list[int], list[float]]:
    """Accounts `fan_0…` and one author per size followed by the first `size` of them, by
    bulk inserts; the fans' ids, and per author the median ms of its follower-id query."""
    runtime = Runtime.open(settings)
    try:
        now = datetime.now(UTC)
        password_hash = await accounts.hash_password(PASSWORD)
        fans = [new_id() for _ in range(max(sizes))]
        authors = [new_id() for _ in sizes]

        def account(
            account_id: int, name: str, followers: int, following: int
        ) -> accounts.BulkAccount:
            email = f"{name}@bench.invalid"
            return accounts.BulkAccount(
                account_id, name, name, email, password_hash, now, followers, following, 0, None
            )

        rows = [
            account(a, f"fanout_{size}", size, 0) for a, size in zip(authors, sizes, strict=True)
        ]
        rows += [
            account(fan, f"fan_{i}", 0, sum(i < size for size in sizes))
            for i, fan in enumerate(fans)
        ]
        follows = [
            accounts.BulkFollow(new_id(fan), fan, author, now)
            for author, size in zip(authors, sizes, strict=True)
            for fan in fans[:size]
        ]
        for start in range(0, len(rows), INSERT_BATCH):
            async with session_scope(runtime.sessions) as session:
                await accounts.bulk_insert_accounts(session, rows[start : start + INSERT_BATCH])
        for start in range(0, len(follows), INSERT_BATCH):
            async with session_scope(runtime.sessions) as session:
                await accounts.bulk_insert_follows(session, follows[start : start + INSERT_BATCH])
        return fans, [await query_ms(runtime, author) for author in authors]
    finally:
        await runtime.close()


async def query_ms(runtime: Runtime, author: int) -> float:
    """The median of 5 runs of `accounts.follower_ids`, as fan-out calls it."""
    timings = []
    for _ in range(5):
        async with session_scope(runtime.sessions) as session:
            started = time.perf_counter()
            await accounts.follower_ids(session, author)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def photo() -> bytes:
    image = pyvips.Image.perlin(320, 240, cell_size=32).linear(127, 128).cast("uchar")
    data: bytes = image.jpegsave_buffer()
    return data


def missing_feeds(redis: Redis, prefix: str, owners: list[int], post_id: str) -> list[int]:
    """The owners whose feed lacks the post, checked by a script per 10k feeds."""
    script = redis.register_script(MISSING)
    owner_of = {feed_key(prefix, owner): owner for owner in owners}
    keys = list(owner_of)
    missing: list[int] = []
    for start in range(0, len(keys), 10_000):
        found = script(args=[post_id, ",".join(keys[start : start + 10_000])])
        missing += (owner_of[key.decode()] for key in found)
    return missing


def until_delivered(
    redis: Redis, prefix: str, owners: list[int], post_id: str, started: float
) -> tuple[float, float]:
    """(probe, bound) seconds from `started` until every owner's feed holds the post: a
    probe of random feeds is polled until all have it, then the others are checked (a feed
    never loses the post again, so checks made one after another add up)."""
    probe = random.Random(3).sample(owners, min(PROBE, len(owners)))
    while True:
        if time.perf_counter() - started > FANOUT_TIMEOUT:
            sys.exit(f"bench: fan-out of {post_id} not done after {FANOUT_TIMEOUT:.0f} s")
        if missing_feeds(redis, prefix, probe, post_id):
            time.sleep(0.001)  # poll interval
            continue
        seen = time.perf_counter() - started
        owners = missing_feeds(redis, prefix, owners, post_id)
        if not owners:
            return seen, time.perf_counter() - started
        probe = owners[:PROBE]


def resp(*parts: str) -> bytes:
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded
    )


def pipe_seconds(redis_url: str, keys: list[str], member: str, cap: int) -> float:
    """`redis-cli --pipe` sending ZADD + ZREMRANGEBYRANK for each key: Redis's own pace."""
    commands = b"".join(
        resp("ZADD", key, member, member) + resp("ZREMRANGEBYRANK", key, "0", str(-(cap + 1)))
        for key in keys
    )
    with tempfile.TemporaryFile() as file:
        file.write(commands)
        file.seek(0)
        started = time.perf_counter()
        pipe = ["redis-cli", "-u", redis_url, "--pipe"]
        subprocess.run(pipe, stdin=file, check=True, capture_output=True)
        return time.perf_counter() - started


def deliver(
    client: httpx.Client, auth: dict[str, str], redis: Redis, prefix: str, owners: list[int]
) -> tuple[str, Delivery]:
    """Post a photo as the author; the post's id and how long until all feeds had it."""
    media = client.post("/api/v2/media", headers=auth, files={"file": photo()})
    form = {"status": "fan-out", "media_ids[]": media.raise_for_status().json()["id"]}
    started = time.perf_counter()
    answer = client.post("/api/v1/statuses", headers=auth, data=form)
    post_ms = (time.perf_counter() - started) * 1000
    post_id: str = answer.raise_for_status().json()["id"]
    seen, bound = until_delivered(redis, prefix, owners, post_id, started)
    return post_id, Delivery(seen, bound, post_ms)


def fanout_rows(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> list[FanoutRow]:
    """Per author size, the median of `--fanout-runs` posts, beside `redis-cli --pipe`."""
    sizes = sorted(FANOUT_TARGETS)
    settings = settings_of(env)
    fans, query_timings = asyncio.run(make_authors(settings, sizes))
    prefix, cap = settings.redis_prefix, settings.feed_size
    redis = Redis.from_url(args.redis)
    rows: list[FanoutRow] = []
    server_env = {**env, "TESSERA_FANOUT_THRESHOLD": str(10 * max(sizes))}
    with (
        tessera(server_env, workdir, "tessera-fanout") as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        app = oauth_app(client)
        for size, ids_ms in zip(sizes, query_timings, strict=True):
            auth = {"Authorization": f"Bearer {log_in(client, app, f'fanout_{size}', PASSWORD)}"}
            runs: list[Delivery] = []
            pipes: list[float] = []
            for run in range(args.fanout_runs):
                post_id, delivery = deliver(client, auth, redis, prefix, fans[:size])
                runs.append(delivery)
                pipe_keys = [f"{prefix}pipe{run}:feed:{fan}" for fan in fans[:size]]
                pipes.append(pipe_seconds(args.redis, pipe_keys, post_id, cap))
            median = sorted(runs, key=lambda run: run.bound_s)[len(runs) // 2]
            rows.append(FanoutRow(size, median, statistics.median(pipes), ids_ms))
            print(
                f"bench: fan-out to {size:,}: {median.seen_s:.3f} s (≤ {median.bound_s:.3f} s),"
                f" redis-cli --pipe {rows[-1].pipe_s:.3f} s"
            )
    redis.close()
    return rows


# -- the whole part -----------------------------------------------------------------------


def home_table(rows: list[HomeRow]) -> str:
    lines = [
        "| data set | backend | req/s | p50 | p99 | p50 / p99, one client | ceiling req/s "
        "| ratio | target | met? | seeding | page |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for row in rows:
        ratio = row.tessera.rps / row.ceiling.rps
        met = "yes" if ratio >= TARGET_RATIO else "no"
        lines.append(
            f"| {row.dataset.label} | {row.backend} | {row.tessera.rps:,.0f} "
            f"| {row.tessera.p50_ms:,.0f} ms | {row.tessera.p99_ms:,.0f} ms "
            f"| {row.alone.p50_ms:.1f} / {row.alone.p99_ms:.1f} ms | {row.ceiling.rps:,.0f} "
            f"| {ratio:.3f} | ≥ {TARGET_RATIO} | {met} | {row.seed_s / 60:.1f} min "
            f"| {row.body_bytes / 1024:.0f} KB |"
        )
    return "\n".join(lines) + "\n"


def fanout_table(rows: list[FanoutRow]) -> str:
    lines = [
        "| followers | POST sent → every feed has it | upper bound | POST alone "
        "| `redis-cli --pipe`, same commands | ratio | follower-id query | target | met? |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        target = FANOUT_TARGETS[row.followers]
        met = "yes" if row.tessera.bound_s < target else "no"
        lines.append(
            f"| {row.followers:,} | {row.tessera.seen_s:.3f} s | {row.tessera.bound_s:.3f} s "
            f"| {row.tessera.post_ms:.0f} ms | {row.pipe_s:.3f} s "
            f"| {row.tessera.seen_s / row.pipe_s:.1f}× | {row.ids_query_ms:.0f} ms "
            f"| < {target:g} s | {met} |"
        )
    return "\n".join(lines) + "\n"


def feed_bench(wrk: str, args: argparse.Namespace) -> str:
    """Both tables, as Markdown."""
    homes: list[HomeRow] = []
    fanouts: list[FanoutRow] = []
    for dataset in [SMALL, LARGE] if args.large else [SMALL]:
        with scaled_env(args) as base, tempfile.TemporaryDirectory(prefix="tessera-feed-") as tmp:
            env = tessera_env(tmp, base)
            homes.append(home_row(wrk, args, env, Path(tmp), dataset))
            if dataset == SMALL:
                fanouts = fanout_rows(args, env, Path(tmp))
    with tempfile.TemporaryDirectory(prefix="tessera-feed-embedded-") as tmp:
        homes.append(home_row(wrk, args, tessera_env(tmp), Path(tmp), SMALL))
    return f"{home_table(homes)}\n{fanout_table(fanouts)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    wrk_options(parser)
    feed_options(parser)
    args = parser.parse_args()
    wrk = ensure_wrk()
    warn_if_busy()
    print(feed_bench(wrk, args))


if __name__ == "__main__":
    main()
