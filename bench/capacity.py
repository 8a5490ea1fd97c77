"""Unit costs measured on the seeded data set, and the capacity plan computed from them.

The setup of `bench/scaling.py`: the small data set of `bench/feed.py` (10k users, 100
follows each on average, 200k posts) in a fresh database, Redis prefix and RabbitMQ
exchange, served by `tessera cluster --api 2 --workers 1`. Through its nginx, one after
another:

- reads: wrk reads home timeline pages, rotating over 200 seeded users' tokens;
- uploads: 20 of them upload the 12 MP photo of `bench/media.py` (processed on arrival);
- posts: each posts it, until every follower's Redis feed holds the post (fan-out);
- comments: 50 comments on others' posts, until each author has the notification;
- likes: wrk likes others' posts, each (user, post) pair once, until every author has
  the notification.

Around each part, the CPU time (utime + stime in /proc) of every part of the stack: the
API processes, nginx (master and workers), the PostgreSQL backends connected to the run's
database, redis-server, the worker and RabbitMQ (beam.smp), divided by the operations
done. Redis and RabbitMQ also serve everything else on this machine: their CPU rate over
an idle window just before each part is subtracted. CPU-seconds are what a part costs
wherever it runs; contention on a busy machine inflates them a little.

Storage: PostgreSQL's `pg_total_relation_size` (rows, TOAST and indexes) per row of the
seeded tables, and the growth of `favourites` and `notifications` per like; Redis's
`MEMORY USAGE` of the readers' feeds per entry; the stored renditions of the uploaded
photos; and the fan-out writes a post causes in the seeded graph (authors with more
followers than `TESSERA_FANOUT_THRESHOLD` cause none: they are merged at read time).

The plan multiplies these by the assumptions in `ASSUMPTIONS` (each printed beside the
plan) for 1M, 10M and 100M daily users. `python bench/capacity.py` (about 6 minutes)
prints the tables and writes them to `bench/results/capacity.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from feed import HOME, SMALL, missing_feeds, readers, rotation, settings_of
from harness import ROOT, Measure, cluster, ensure_wrk, run_wrk, warn_if_busy
from media import make_photo
from redis import Redis
from scaling import Seeded, scaling_options, seeded
from stack import PARTS, Stack, fetch

from tessera import accounts
from tessera.core.config import Settings
from tessera.core.db import session_scope
from tessera.core.runtime import Runtime
from tessera.core.storage import LocalStorage, open_storage
from tessera.feed.stores import feed_key

RESULTS = ROOT / "bench" / "results" / "capacity.md"
SHARED = ("redis", "rabbitmq")
"""Parts that serve other work on this machine too: their idle CPU rate is subtracted."""
DEADLINE = 180.0
"""Seconds the worker may take to finish a part's events."""
LISTPACK_MAX = 128
"""Redis's `zset-max-listpack-entries`: larger feeds are skiplists, dearer per entry."""
LIKED_POSTS = 100
"""Newest public posts whose (reader, post) pairs the like run goes through, once each."""
POST_TABLES = ("posts", "post_tags", "post_mentions")
"""What one post or comment writes, photos aside."""
TABLES = (*POST_TABLES, "media_attachments", "accounts", "follows", "favourites")
TABLES += ("notifications", "outbox_events")
DAY = 86_400
YEAR_DAYS = 365
TB = 1e12
GB = 1e9


class Assumption(NamedTuple):
    value: float
    text: str


ASSUMPTIONS = {
    "home_pages": Assumption(20, "home timeline pages (20 posts each) read per daily user a day"),
    "other_reads": Assumption(
        1,
        "other API reads (profiles, comments, notifications) per home page, each costed as a "
        "home page (not measured)",
    ),
    "posts": Assumption(0.1, "posts per daily user a day"),
    "photos": Assumption(1.5, "photos per post (12 MP originals, processed on upload)"),
    "comments": Assumption(1, "comments per daily user a day"),
    "likes": Assumption(10, "likes per daily user a day"),
    "peak": Assumption(3, "peak-to-average request rate"),
    "utilisation": Assumption(0.6, "CPU share used at peak (the rest is headroom)"),
    "accounts": Assumption(
        2,
        "accounts per daily user; each has a home feed (fan-out writes to every "
        "follower's feed, active or not, and feeds do not expire)",
    ),
    "retention": Assumption(1, "years of posts, photos, likes and comments kept (all of them)"),
    "server_cores": Assumption(16, "cores of an API, worker or PostgreSQL machine"),
    "edge_cores": Assumption(8, "cores of an nginx or RabbitMQ machine"),
    "redis_gb": Assumption(64, "GB of memory of a Redis machine"),
    "redis_fill": Assumption(0.75, "share of a Redis machine's memory for data"),
    "disk_tb": Assumption(8, "TB of disk of a PostgreSQL machine"),
    "disk_fill": Assumption(0.7, "share of a PostgreSQL disk filled"),
}


def assume(name: str) -> float:
    return ASSUMPTIONS[name].value


# -- the parts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """CPU-seconds of one operation in each part of the stack."""

    name: str
    count: int
    wall_s: float
    cpu: dict[str, float]
    idle: dict[str, float]
    """CPU-seconds per second the shared parts used before, with nothing of ours running."""
    others: float
    """Cores the rest of the machine kept busy meanwhile."""

    @property
    def total(self) -> float:
        return sum(self.cpu.values())


def measured(stack: Stack, name: str, work: Callable[[], int], baseline_s: float) -> Cost:
    """The CPU each part spent per operation while `work` did its operations (the number
    it returns), less the shared parts' idle rate."""
    start = stack.sample()
    time.sleep(baseline_s)  # the idle window the shared parts' background is measured over
    quiet = stack.sample()
    idle = {part: seconds / (quiet.at - start.at) for part, seconds in quiet.since(start).items()}
    count = work()
    done = stack.sample()
    wall = done.at - quiet.at
    used = done.since(quiet)
    cpu = {
        part: max(0.0, used[part] - (idle[part] * wall if part in SHARED else 0.0)) / count
        for part in PARTS
    }
    others = done.others(quiet) / wall
    shares = ", ".join(f"{part} {cpu[part] * 1000:.2f}" for part in PARTS)
    print(f"bench: {name}: {count} in {wall:.1f} s; CPU ms each: {shares}; others {others:.2f}")
    return Cost(name, count, wall, cpu, {part: idle[part] for part in SHARED}, others)


# -- the operations -----------------------------------------------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Run:
    args: argparse.Namespace
    wrk: str
    stack: Stack
    settings: Settings
    db_url: str
    redis: Redis
    tokens: list[str]
    owner: dict[str, int] = field(default_factory=dict)
    """Each token's account id."""
    home: Measure | None = None
    likes: Measure | None = None
    media_ids: list[str] = field(default_factory=list)
    fanout_writes: int = 0
    like_tables: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Bytes and rows each table grew by during the likes."""

    @property
    def url(self) -> str:
        return self.stack.cluster.url

    def count(self, sql: str) -> int:
        found: int = fetch(self.db_url, sql)[0][0]
        return found

    def until(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while not done():
            if time.monotonic() > deadline:
                sys.exit(f"bench: {what} not done after {DEADLINE:.0f} s")
            time.sleep(0.05)  # poll interval

    def pairs(self) -> list[tuple[str, str]]:
        """(token, post id) for the newest public posts, each post by someone else."""
        newest = fetch(
            self.db_url,
            "SELECT id, account_id FROM posts WHERE in_reply_to_id IS NULL"
            " AND visibility = 'public' ORDER BY id DESC LIMIT $1",
            LIKED_POSTS,
        )
        return [
            (token, str(post["id"]))
            for post in newest
            for token in self.tokens
            if post["account_id"] != self.owner[token]
        ]

    def read_homes(self) -> int:
        before = self.stack.cluster.served("GET /api/v1/timelines/home")
        with rotation(self.tokens) as script:
            self.home = run_wrk(self.wrk, self.url + HOME, self.args, script=script)
        return self.stack.cluster.served("GET /api/v1/timelines/home") - before

    def upload(self) -> int:
        photo = make_photo()
        with httpx.Client(base_url=self.url, timeout=120) as client:
            for token in self.tokens[: self.args.posts]:
                files = {"file": ("photo.jpg", photo, "image/jpeg")}
                answer = client.post("/api/v2/media", headers=_auth(token), files=files)
                self.media_ids.append(answer.raise_for_status().json()["id"])
        return len(self.media_ids)

    def post(self) -> int:
        posted: list[tuple[int, str]] = []
        with httpx.Client(base_url=self.url, timeout=60) as client:
            for token, media_id in zip(self.tokens, self.media_ids, strict=False):
                form = {"status": "Evening light #photography", "media_ids[]": media_id}
                answer = client.post("/api/v1/statuses", headers=_auth(token), data=form)
                posted.append((self.owner[token], answer.raise_for_status().json()["id"]))
        followers = asyncio.run(follower_ids(self.settings, [author for author, _ in posted]))
        waiting = {
            post: followers[author]
            for author, post in posted
            if len(followers[author]) <= self.settings.fanout_threshold
        }
        self.fanout_writes = sum(len(owners) for owners in waiting.values())
        prefix = self.settings.redis_prefix

        def delivered() -> bool:
            for post, owners in list(waiting.items()):
                waiting[post] = missing_feeds(self.redis, prefix, owners, post)
            return not any(waiting.values())

        self.until("the fan-out", delivered)
        return len(posted)

    def comment(self) -> int:
        mentions = "SELECT count(*) FROM notifications WHERE type = 'mention'"
        before = self.count(mentions)
        pairs = self.pairs()
        chosen = pairs[:: max(1, len(pairs) // self.args.comments)][: self.args.comments]
        with httpx.Client(base_url=self.url, timeout=60) as client:
            for token, post in chosen:
                form = {"status": "Lovely light!", "in_reply_to_id": post}
                client.post("/api/v1/statuses", headers=_auth(token), data=form).raise_for_status()
        wanted = before + len(chosen)
        self.until("the comments' notifications", lambda: self.count(mentions) >= wanted)
        return len(chosen)

    def like(self) -> int:
        pairs = self.pairs()
        notified = "SELECT count(*) FROM notifications WHERE type = 'favourite'"
        wanted = self.count(notified)
        before = table_sizes(self.db_url)
        with liking(pairs) as script:
            self.likes = run_wrk(self.wrk, self.url + "/", self.args, script=script)
        after = table_sizes(self.db_url)
        likes = after["favourites"][1] - before["favourites"][1]
        if likes >= len(pairs):
            sys.exit(f"bench: all {len(pairs)} (reader, post) pairs liked; raise LIKED_POSTS")
        wanted += likes
        self.until("the likes' notifications", lambda: self.count(notified) >= wanted)
        after = table_sizes(self.db_url)
        self.like_tables = {
            table: (after[table][0] - before[table][0], after[table][1] - before[table][1])
            for table in TABLES
        }
        return likes


async def follower_ids(settings: Settings, authors: list[int]) -> dict[int, list[int]]:
    runtime = Runtime.open(settings)
    try:
        async with session_scope(runtime.sessions) as session:
            return {author: await accounts.follower_ids(session, author) for author in authors}
    finally:
        await runtime.close()


@contextmanager
def liking(pairs: list[tuple[str, str]]) -> Iterator[Path]:
    """A wrk Lua script that likes the next post with the next token at each request."""
    listed = ",".join(f'{{"{token}","{post}"}}' for token, post in pairs)
    script = f"""
local pairs = {{{listed}}}
local n = 0
request = function()
  n = n + 1
  local pair = pairs[(n - 1) % #pairs + 1]
  local path = "/api/v1/statuses/" .. pair[2] .. "/favourite"
  return wrk.format("POST", path, {{["Authorization"] = "Bearer " .. pair[1]}})
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        yield Path(file.name)


# -- storage ------------------------------------------------------------------------------


def table_sizes(db_url: str) -> dict[str, tuple[int, int]]:
    """Each table's bytes (with TOAST and indexes) and rows."""
    counts = " UNION ALL ".join(
        f"SELECT '{table}', pg_total_relation_size('{table}'), count(*) FROM {table}"  # noqa: S608 - names from TABLES
        for table in TABLES
    )
    return {row[0]: (row[1], row[2]) for row in fetch(db_url, counts)}


@dataclass(frozen=True)
class Storage:
    sizes: dict[str, tuple[int, int]]
    """After seeding: each table's bytes and rows."""
    like_tables: dict[str, tuple[int, int]]
    events: tuple[int, int]
    """The outbox at the end: bytes and rows."""
    feed_entry: float
    """Redis bytes per entry of feeds over LISTPACK_MAX entries."""
    small_feed_entry: float
    feed_overhead: float
    """Redis bytes per feed besides its entries: its other keys (the built marker)."""
    feeds: int
    median_feed: int
    other_redis_per_reader: float
    photo_bytes: float
    """Stored renditions (JPEG + WebP of each size) of one uploaded 12 MP photo."""
    seeded_photo_bytes: float
    fanout_per_post: float
    followers_per_post: float
    celebrity_share: float
    most_followers: int
    threshold: int

    def per_row(self, *tables: str) -> float:
        """Bytes per row of the first table, all the tables' bytes counted."""
        return sum(self.sizes[table][0] for table in tables) / self.sizes[tables[0]][1]

    def grown_per_row(self, table: str) -> float:
        grown, rows = self.like_tables[table]
        return grown / rows


def redis_memory(run: Run) -> tuple[float, float, float, int, int, float]:
    """Per feed entry (large feeds, small feeds), per feed besides, feeds, median size,
    other keys per reader."""
    prefix = run.settings.redis_prefix
    large = [0, 0]
    small = [0, 0]
    besides = 0
    sizes = []
    for owner in run.owner.values():
        key = feed_key(prefix, owner)
        entries = run.redis.zcard(key)
        sizes.append(entries)
        totals = large if entries > LISTPACK_MAX else small
        totals[0] += run.redis.memory_usage(key, samples=0) or 0
        totals[1] += entries
        besides += sum(
            run.redis.memory_usage(other, samples=0) or 0
            for other in run.redis.scan_iter(match=f"{key}:*")
        )
    feeds = f"{prefix}feed:".encode()
    others = sum(
        run.redis.memory_usage(key, samples=0) or 0
        for key in run.redis.scan_iter(match=f"{prefix}*", count=1000)
        if not key.startswith(feeds)
    )
    return (
        large[0] / max(large[1], 1),
        small[0] / max(small[1], 1),
        besides / len(sizes),
        len(sizes),
        sorted(sizes)[len(sizes) // 2],
        others / len(run.tokens),
    )


def photo_bytes(run: Run) -> tuple[float, float]:
    """Stored bytes per photo: the uploaded ones, and the seeded ones."""
    storage = open_storage(run.settings)
    assert isinstance(storage, LocalStorage)

    def stored(files: dict[str, Any]) -> int:
        keys = {rendition[kind] for rendition in files.values() for kind in ("jpeg", "webp")}
        return sum(storage.path(key).stat().st_size for key in keys)

    uploaded = fetch(
        run.db_url,
        "SELECT files FROM media_attachments WHERE id = ANY($1::bigint[])",
        [int(media_id) for media_id in run.media_ids],
    )
    seeded = fetch(
        run.db_url,
        "SELECT DISTINCT files::text FROM media_attachments WHERE NOT id = ANY($1::bigint[])",
        [int(media_id) for media_id in run.media_ids],
    )
    mine = [stored(json.loads(row[0])) for row in uploaded]
    theirs = [stored(json.loads(row[0])) for row in seeded]
    return sum(mine) / len(mine), sum(theirs) / len(theirs)


def storage(run: Run, seeded_sizes: dict[str, tuple[int, int]]) -> Storage:
    graph = fetch(
        run.db_url,
        "SELECT avg(a.followers_count),"
        " avg(CASE WHEN a.followers_count <= $1 THEN a.followers_count ELSE 0 END),"
        " avg((a.followers_count > $1)::int), max(a.followers_count)"
        " FROM posts p JOIN accounts a ON a.id = p.account_id WHERE p.in_reply_to_id IS NULL",
        run.settings.fanout_threshold,
    )[0]
    large, small, besides, feeds, median, others = redis_memory(run)
    uploaded, seeded_photo = photo_bytes(run)
    return Storage(
        sizes=seeded_sizes,
        like_tables=run.like_tables,
        events=table_sizes(run.db_url)["outbox_events"],
        feed_entry=large,
        small_feed_entry=small,
        feed_overhead=besides,
        feeds=feeds,
        median_feed=median,
        other_redis_per_reader=others,
        photo_bytes=uploaded,
        seeded_photo_bytes=seeded_photo,
        fanout_per_post=float(graph[1]),
        followers_per_post=float(graph[0]),
        celebrity_share=float(graph[2]),
        most_followers=graph[3],
        threshold=run.settings.fanout_threshold,
    )


# -- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    costs: dict[str, Cost]
    storage: Storage
    run: Run
    seeded: Seeded
    load: tuple[float, float]
    """Load average (1 min) before and after."""
    minutes: float


def measure(wrk: str, args: argparse.Namespace) -> Measured:
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with seeded(args) as data:
        settings = settings_of(data.env)
        redis = Redis.from_url(args.redis)
        with cluster(data.env, data.workdir, api=args.api) as running:
            stack = Stack.of(running, data.env, args.pg, args.redis)
            seeded_sizes = table_sizes(stack.database_url)
            tokens, _ = readers(running.url, SMALL, data.password, args.readers)
            run = Run(args, wrk, stack, settings, stack.database_url, redis, tokens)
            with httpx.Client(base_url=running.url, timeout=60) as client:
                for token in tokens:
                    path = "/api/v1/accounts/verify_credentials"
                    account = client.get(path, headers=_auth(token)).raise_for_status().json()
                    run.owner[token] = int(account["id"])
            works = {
                "home timeline page": run.read_homes,
                "photo upload (12 MP)": run.upload,
                "post of that photo": run.post,
                "comment": run.comment,
                "like": run.like,
            }
            costs = {
                name: measured(stack, name, work, args.baseline) for name, work in works.items()
            }
            kept = storage(run, seeded_sizes)
        redis.close()
    minutes = (time.monotonic() - started) / 60
    return Measured(costs, kept, run, data, (load_before, os.getloadavg()[0]), minutes)


# -- the plan -----------------------------------------------------------------------------

USERS = (1_000_000, 10_000_000, 100_000_000)
HOME_PAGE = "home timeline page"
UPLOAD = "photo upload (12 MP)"
POST = "post of that photo"


def daily(users: int) -> dict[str, float]:
    """Operations a day."""
    posts = users * assume("posts")
    return {
        HOME_PAGE: users * assume("home_pages") * (1 + assume("other_reads")),
        UPLOAD: posts * assume("photos"),
        POST: posts,
        "comment": users * assume("comments"),
        "like": users * assume("likes"),
    }


def unit_cpu(m: Measured) -> dict[str, dict[str, float]]:
    """CPU-seconds per operation; a post's worker and Redis work scaled from the fan-out
    of the measured posts to the seeded graph's mean."""
    costs = {name: dict(cost.cpu) for name, cost in m.costs.items()}
    measured_fanout = m.run.fanout_writes / m.costs[POST].count
    for part in ("worker", "redis"):
        costs[POST][part] *= m.storage.fanout_per_post / max(measured_fanout, 1.0)
    return costs


def servers(cpu_load: float, cores: float) -> int:
    """Machines of `cores` that carry `cpu_load` CPU-seconds per second at the planned use."""
    return max(1, math.ceil(cpu_load / assume("utilisation") / cores))


@dataclass(frozen=True)
class Tier:
    users: int
    peak: dict[str, float]
    """Operations per second at peak."""
    load: dict[str, float]
    """CPU-seconds per second at peak, per part; PostgreSQL split into reads and writes."""
    redis_bytes: float
    database_bytes: float
    outbox_bytes: float
    """Of `database_bytes`: published outbox events, which nothing deletes today."""
    photo_bytes: float


def tier(m: Measured, users: int) -> Tier:
    s = m.storage
    costs = unit_cpu(m)
    per_day = daily(users)
    peak = {name: count / DAY * assume("peak") for name, count in per_day.items()}
    load = {part: sum(peak[op] * costs[op][part] for op in peak) for part in PARTS}
    load["postgres reads"] = peak[HOME_PAGE] * costs[HOME_PAGE]["postgres"]
    load["postgres writes"] = load.pop("postgres") - load["postgres reads"]
    feed_size = m.run.settings.feed_size
    accounts_count = users * assume("accounts")
    redis_bytes = accounts_count * (feed_size * s.feed_entry + s.feed_overhead)
    # Caches live an hour at most: sized for the users of the peak hour.
    redis_bytes += users * assume("peak") / 24 * s.other_redis_per_reader
    days = YEAR_DAYS * assume("retention")
    post_row = s.per_row(*POST_TABLES)
    notification = s.grown_per_row("notifications")
    events_bytes, events = s.events
    rows_per_day = (
        per_day[POST] * post_row
        + per_day[UPLOAD] * s.per_row("media_attachments")
        + per_day["comment"] * (post_row + notification)
        + per_day["like"] * (s.grown_per_row("favourites") + notification)
    )
    outbox = (per_day[POST] + per_day["comment"] + per_day["like"]) * events_bytes / events
    graph = accounts_count * (s.per_row("accounts") + SMALL.mean_follows * s.per_row("follows"))
    return Tier(
        users,
        peak,
        load,
        redis_bytes,
        graph + (rows_per_day + outbox) * days,
        outbox * days,
        per_day[UPLOAD] * days * s.photo_bytes,
    )


def machines(t: Tier) -> dict[str, str]:
    cores = assume("server_cores")
    edge = assume("edge_cores")
    redis_data = assume("redis_gb") * GB * assume("redis_fill")
    masters = max(3, math.ceil(t.redis_bytes / redis_data), servers(t.load["redis"], 1))
    disk = assume("disk_tb") * TB * assume("disk_fill")
    shards = max(servers(t.load["postgres writes"], cores), math.ceil(t.database_bytes / disk))
    replicas = shards * (math.ceil(servers(t.load["postgres reads"], cores) / shards) + 1)
    return {
        "nginx": f"{max(2, servers(t.load['nginx'], edge) + 1)}",
        "API": f"{servers(t.load['api'], cores) + 1}",
        "worker": f"{servers(t.load['worker'], cores) + 1}",
        "primary": f"{shards}" + (" (shards)" if shards > 1 else ""),
        "replicas": f"{replicas}",
        "disk": f"{t.database_bytes / shards / TB:.1f} TB",
        "redis": f"{masters} + {masters} replicas",
        "rabbitmq": f"{max(3, servers(3 * t.load['rabbitmq'], edge))}",
        "objects": f"{t.photo_bytes / TB:,.0f} TB",
    }


# -- the tables ---------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def costs_table(m: Measured) -> str:
    lines = [
        "| operation (through nginx) | measured | API | nginx | PostgreSQL | Redis | worker "
        "| RabbitMQ | all | cores busy with other work meanwhile |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cost in m.costs.values():
        cells = " | ".join(_ms(cost.cpu[part]) for part in PARTS)
        lines.append(
            f"| {cost.name} | {cost.count:,} | {cells} | {_ms(cost.total)} | {cost.others:.2f} |"
        )
    home = m.costs[HOME_PAGE]
    assert m.run.home is not None
    assert m.run.likes is not None
    idle = " / ".join(
        f"{min(rates):.2f}–{max(rates):.2f}"
        for rates in ([cost.idle[part] for cost in m.costs.values()] for part in SHARED)
    )
    return (
        "\n".join(lines) + "\n\nCPU milliseconds per operation. Home timeline: "
        f"{1 / home.cpu['api']:,.0f} pages/s per core of API processes, "
        f"{1 / home.total:,.0f} per core of the whole stack; this run served "
        f"{m.run.home.rps:,.0f} pages/s (p50 {m.run.home.p50_ms:.0f} ms) and "
        f"{m.run.likes.rps:,.0f} likes/s. A post fanned out to "
        f"{m.run.fanout_writes / m.costs[POST].count:,.0f} feeds on average. "
        f"The shared Redis / RabbitMQ used {idle} CPU-s/s idle before the parts; subtracted.\n"
    )


def storage_table(m: Measured) -> str:
    s = m.storage
    rows = [
        (
            f"Redis, per feed entry ({s.feeds} readers' feeds, median {s.median_feed} entries;"
            f" over {LISTPACK_MAX} entries, skiplist)",
            f"{s.feed_entry:.1f} B",
        ),
        (
            f"Redis, per feed entry (feeds up to {LISTPACK_MAX}, listpack)",
            f"{s.small_feed_entry:.1f} B",
        ),
        ("Redis, per feed besides its entries (the built marker)", f"{s.feed_overhead:.0f} B"),
        (
            "Redis, all other keys per reader after the run: caches of rendered posts, accounts"
            " and tokens (TTL ≤ 1 h), rate-limit budgets",
            f"{s.other_redis_per_reader / 1024:.1f} KB",
        ),
        (
            "PostgreSQL, per post (posts, post_tags, post_mentions; with indexes)",
            f"{s.per_row(*POST_TABLES):.0f} B",
        ),
        ("PostgreSQL, per photo (media_attachments)", f"{s.per_row('media_attachments'):.0f} B"),
        ("PostgreSQL, per follow", f"{s.per_row('follows'):.0f} B"),
        ("PostgreSQL, per account", f"{s.per_row('accounts'):.0f} B"),
        ("PostgreSQL, per like (growth of favourites)", f"{s.grown_per_row('favourites'):.0f} B"),
        ("PostgreSQL, per notification (growth)", f"{s.grown_per_row('notifications'):.0f} B"),
        (
            "PostgreSQL, per outbox event (published rows are never pruned today)",
            f"{s.events[0] / s.events[1]:.0f} B",
        ),
        (
            "Stored renditions per photo: uploaded 12 MP / seeded (1.4–2 MP)",
            f"{s.photo_bytes / 1024:.0f} KB / {s.seeded_photo_bytes / 1024:.0f} KB",
        ),
        (
            f"Fan-out writes per post (seeded graph; TESSERA_FANOUT_THRESHOLD {s.threshold:,})",
            f"{s.fanout_per_post:.1f}",
        ),
        (
            "Mean followers of posts' authors; posts by authors over the threshold; most followers",
            f"{s.followers_per_post:.1f}; {s.celebrity_share:.1%}; {s.most_followers:,}",
        ),
    ]
    lines = ["| measure | value |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def assumptions_table(m: Measured) -> str:
    lines = ["| assumption | value |", "|---|---:|"]
    lines += [f"| {a.text} | {a.value:g} |" for a in ASSUMPTIONS.values()]
    lines.append(
        f"| follows per account (the seeded graph's mean; a power law) | {SMALL.mean_follows} |"
    )
    lines.append(f"| entries a home feed holds (TESSERA_FEED_SIZE) | {m.run.settings.feed_size} |")
    return "\n".join(lines) + "\n"


def plan_table(m: Measured) -> str:
    tiers = [tier(m, users) for users in USERS]
    plans = [machines(t) for t in tiers]
    head = "| | " + " | ".join(f"{t.users // 1_000_000}M daily users" for t in tiers) + " |"
    lines = [head, "|---|" + "---:|" * len(tiers)]

    def row(label: str, cell: Callable[[int], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(i) for i in range(len(tiers))) + " |")

    row("home pages and other reads /s at peak", lambda i: f"{tiers[i].peak[HOME_PAGE]:,.0f}")
    row("photo uploads /s at peak", lambda i: f"{tiers[i].peak[UPLOAD]:,.0f}")
    row(
        "posts / comments / likes per s at peak",
        lambda i: " / ".join(f"{tiers[i].peak[op]:,.0f}" for op in (POST, "comment", "like")),
    )
    row(
        "fan-out feed writes /s at peak",
        lambda i: f"{tiers[i].peak[POST] * m.storage.fanout_per_post:,.0f}",
    )
    for part, label in [
        ("api", "API"),
        ("nginx", "nginx"),
        ("postgres reads", "PostgreSQL reads"),
        ("postgres writes", "PostgreSQL writes"),
        ("redis", "Redis"),
        ("worker", "workers"),
        ("rabbitmq", "RabbitMQ (one copy)"),
    ]:
        row(f"cores busy at peak: {label}", lambda i, part=part: f"{tiers[i].load[part]:,.1f}")
    row("Redis memory (feeds, caches)", lambda i: f"{tiers[i].redis_bytes / GB:,.0f} GB")
    row(
        f"PostgreSQL data after {assume('retention'):g} year",
        lambda i: f"{tiers[i].database_bytes / TB:,.2f} TB",
    )
    row("of which published outbox events", lambda i: f"{tiers[i].outbox_bytes / TB:,.2f} TB")
    cores = f"{assume('server_cores'):g}"
    edge = f"{assume('edge_cores'):g}"
    disk = f"{assume('disk_tb'):g}"
    for key, label in [
        ("nginx", f"**nginx load balancers** ({edge} cores; ≥ 2, one spare)"),
        ("API", f"**API servers** ({cores} cores; one spare)"),
        ("worker", f"**worker servers** ({cores} cores; one spare)"),
        ("primary", f"**PostgreSQL primaries** ({cores} cores, {disk} TB; writes)"),
        ("replicas", "**PostgreSQL replicas** (the same; reads; one spare per shard)"),
        ("disk", "PostgreSQL data per shard"),
        ("redis", f"**Redis** ({assume('redis_gb'):g} GB; ≥ 3 masters, a replica each)"),
        ("rabbitmq", f"**RabbitMQ** ({edge} cores; ≥ 3 for quorum queues, each message on 3)"),
        ("objects", f"**object storage**: photos after {assume('retention'):g} year"),
    ]:
        row(label, lambda i, key=key: plans[i][key])
    return "\n".join(lines) + "\n"


def report(m: Measured, args: argparse.Namespace) -> str:
    notes = (
        f"{SMALL.label} (seeded in {m.seeded.seed_s / 60:.1f} min); `tessera cluster --api "
        f"{args.api} --workers 1`; `wrk -t{args.threads} -c{args.connections}`, {args.duration} s "
        f"after {args.warmup} s of warm-up; {os.cpu_count()} cores; measured "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {m.minutes:.0f} min; load average (1 min) "
        f"{m.load[0]:.1f} before, {m.load[1]:.1f} after.\n"
    )
    return (
        f"Unit costs\n\n{costs_table(m)}\n{storage_table(m)}\n{notes}\n"
        f"Assumptions\n\n{assumptions_table(m)}\nCapacity plan\n\n{plan_table(m)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    scaling_options(parser)
    parser.add_argument("--api", type=int, default=2, help="API processes of the cluster")
    parser.add_argument("--posts", type=int, default=20, help="photos uploaded and posted")
    parser.add_argument("--comments", type=int, default=50)
    parser.add_argument("--baseline", type=float, default=5.0, help="idle seconds before each part")
    args = parser.parse_args()
    wrk = ensure_wrk()
    warn_if_busy()
    result = report(measure(wrk, args), args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(result)
    print(f"\n{result}\n(written to {RESULTS.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
