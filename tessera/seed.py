"""`tessera seed`: a realistic social graph, loaded in bulk into the configured database.

Follower counts follow a power law (follow targets are drawn with probability
proportional to rank^-alpha, so a few accounts have very many followers); posts carry
1–3 photos from a small set of real images that went through the media pipeline once;
ids are made from moments spread over the last days, so they sort by time. Rows go in
with multi-row INSERTs, one transaction per batch, through the services' `bulk_*`
functions: no per-row ORM, no outbox events; then `ANALYZE`, so that the query planner
knows the new sizes at once. Home feeds are not written: the feed service rebuilds a
missing feed on its first read.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate, islice
from typing import TypeVar

import pyvips
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, media, posts
from tessera.core.config import Settings
from tessera.core.db import session_scope
from tessera.core.ids import SHARDS, id_from_ms, shard_of
from tessera.core.runtime import Runtime

__all__ = ["SeedOptions", "SeedReport", "options_from", "seed"]

PREFIX_RE = re.compile(r"^[a-z0-9_]{1,12}$")
DAY_MS = 86_400_000
ALPHA = 1.0
"""The exponent of the rank law: 1 gives the top account about 1/ln(N) of all follows."""


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "ada alan anna ben chloe dan eva finn grace hugo ines jon kai lea liam mia noor omar pia "
    "rui sara tom uma zoe"
)
_LAST = _words(
    "lovelace turing berg costa duarte eriksen fontaine garcia haddad ito jensen kowalski "
    "lindqvist moreau nakamura okafor"
)
_WORDS = _words(
    "morning light over the harbour quiet street old town market golden hour first snow on "
    "the ridge coffee before work long walk by the river late train home"
)
_TAGS = _words(
    "photography streetphotography nature travel sunset film blackandwhite portrait "
    "architecture city mountains sea food coffee dogs cats"
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SeedOptions:
    users: int
    mean_follows: float
    posts: int
    seed: int | None = None
    photos: int = 8
    prefix: str = "seed_"
    days: int = 30
    batch: int = 5000


@dataclass(frozen=True, slots=True)
class SeedReport:
    users: int
    follows: int
    posts: int
    media: int
    password: str
    seconds: float

    def summary(self) -> str:
        return (
            f"tessera: seeded {self.users} users, {self.follows} follows, {self.posts} posts "
            f"and {self.media} photos in {self.seconds:.1f} s\n"
            f"tessera: all seeded users have the password {self.password}"
        )


def options_from(args: argparse.Namespace) -> SeedOptions:
    """The options, or SystemExit with one line saying what is wrong."""
    options = SeedOptions(
        users=args.users,
        mean_follows=args.mean_follows,
        posts=args.posts,
        seed=args.seed,
        photos=args.photos,
        prefix=args.prefix,
        days=args.days,
    )
    if options.users < 1 or options.posts < 0 or options.mean_follows < 0:
        raise SystemExit("tessera: --users must be at least 1, --posts and --mean-follows >= 0")
    if not 1 <= options.photos <= 100 or options.days < 1:
        raise SystemExit("tessera: --photos must be between 1 and 100, --days at least 1")
    if not PREFIX_RE.match(options.prefix):
        raise SystemExit("tessera: --prefix must be 1-12 of a-z, 0-9 and _")
    return options


async def seed(settings: Settings, options: SeedOptions) -> SeedReport:
    """Load the data set; the database must be migrated. Refuses a prefix in use."""
    started = time.perf_counter()
    rng = random.Random(options.seed)
    runtime = Runtime.open(settings)
    try:
        async with session_scope(runtime.sessions) as session:
            if await accounts.ids_by_username(session, [_username(options.prefix, 0)]):
                raise SystemExit(f"tessera: users prefixed {options.prefix!r} exist already")
        password = secrets.token_urlsafe(12)
        plan = _plan(rng, options, int(time.time() * 1000))
        photos = [await media.store_photo(runtime, _image(rng, i)) for i in range(options.photos)]
        password_hash = await accounts.hash_password(password)
        await _in_batches(
            runtime, accounts.bulk_insert_accounts, plan.account_rows(password_hash), options.batch
        )
        await _in_batches(runtime, accounts.bulk_insert_follows, plan.follow_rows(), options.batch)
        media_rows = 0
        for chunk in _chunks(plan.post_rows(), max(1, options.batch // 2)):
            attachments = plan.attachment_rows(chunk, photos)
            media_rows += len(attachments)
            async with session_scope(runtime.sessions) as session:
                await posts.bulk_insert_posts(session, chunk)
                await media.bulk_insert_attachments(session, attachments)
        await _analyze(runtime)
    finally:
        await runtime.close()
    return SeedReport(
        options.users,
        plan.follow_count,
        options.posts,
        media_rows,
        password,
        time.perf_counter() - started,
    )


async def _analyze(runtime: Runtime) -> None:
    """Give the query planner statistics of what was loaded. Until autovacuum gets to the
    tables (never, where it is off) it guesses: at 2M posts, the photos of a timeline page
    were then looked up by a scan of every row, 2 s instead of 2 ms."""
    async with runtime.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


def _username(prefix: str, index: int) -> str:
    return f"{prefix}{index}"


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class _Ids:
    """Ids of given moments (`id_from_ms`), unique among those this object made."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[int] = set()

    def at(self, ms: int, shard: int) -> int:
        while True:
            new = id_from_ms(ms, shard, self._rng.randrange(256))
            if new not in self._used:
                self._used.add(new)
                return new
            ms += 1


def _follow_targets(rng: random.Random, users: int, mean: float) -> list[list[int]]:
    """Per user, whom they follow: counts exponentially spread around `mean`, targets by
    a power law over a random ranking of the users."""
    ranking = list(range(users))
    rng.shuffle(ranking)
    cumulative = list(accumulate((rank + 1) ** -ALPHA for rank in range(users)))
    ranks = range(users)
    graph: list[list[int]] = []
    for user in range(users):
        wanted = min(users - 1, round(rng.expovariate(1 / mean))) if mean > 0 else 0
        chosen: dict[int, None] = {}
        for _ in range(4):
            if len(chosen) >= wanted:
                break
            for rank in rng.choices(ranks, cum_weights=cumulative, k=2 * (wanted - len(chosen))):
                target = ranking[rank]
                if target != user and target not in chosen:
                    chosen[target] = None
                    if len(chosen) == wanted:
                        break
        if len(chosen) < wanted:  # the popular ones are taken: fill from the rest
            rest = [other for other in range(users) if other != user and other not in chosen]
            chosen.update(dict.fromkeys(rng.sample(rest, wanted - len(chosen))))
        graph.append(list(chosen))
    return graph


@dataclass
class _Plan:
    """The whole data set as plain numbers; rows are made from it batch by batch."""

    rng: random.Random
    prefix: str
    account_ids: list[int]
    created_ms: list[int]
    graph: list[list[int]]
    post_times: list[tuple[int, int]]
    """(ms, author index), oldest first."""

    def __post_init__(self) -> None:
        self.media_ids = _Ids(self.rng)

    @property
    def follow_count(self) -> int:
        return sum(len(targets) for targets in self.graph)

    def account_rows(self, password_hash: str) -> Iterator[accounts.BulkAccount]:
        followers = [0] * len(self.account_ids)
        for targets in self.graph:
            for target in targets:
                followers[target] += 1
        statuses = [0] * len(self.account_ids)
        last: list[int | None] = [None] * len(self.account_ids)
        for ms, author in self.post_times:
            statuses[author] += 1
            last[author] = ms
        for index, account_id in enumerate(self.account_ids):
            username = _username(self.prefix, index)
            last_ms = last[index]
            yield accounts.BulkAccount(
                id=account_id,
                username=username,
                display_name=f"{self.rng.choice(_FIRST).title()} {self.rng.choice(_LAST).title()}",
                email=f"{username}@seed.invalid",
                password_hash=password_hash,
                created_at=_at(self.created_ms[index]),
                followers_count=followers[index],
                following_count=len(self.graph[index]),
                statuses_count=statuses[index],
                last_status_at=_at(last_ms) if last_ms is not None else None,
            )

    def follow_rows(self) -> Iterator[accounts.BulkFollow]:
        ids = _Ids(self.rng)
        window_start = self.post_times[0][0] if self.post_times else max(self.created_ms) + 1
        for user, targets in enumerate(self.graph):
            shard = shard_of(self.account_ids[user])
            for target in targets:
                earliest = max(self.created_ms[user], self.created_ms[target])
                ms = self.rng.randint(earliest, max(earliest, window_start - 1))
                yield accounts.BulkFollow(
                    ids.at(ms, shard), self.account_ids[user], self.account_ids[target], _at(ms)
                )

    def post_rows(self) -> Iterator[posts.BulkPost]:
        ids = _Ids(self.rng)
        for ms, author in self.post_times:
            account_id = self.account_ids[author]
            yield posts.BulkPost(
                id=ids.at(ms, shard_of(account_id)),
                account_id=account_id,
                caption=_caption(self.rng),
                media_count=self.rng.randint(1, 3),
                created_at=_at(ms),
            )

    def attachment_rows(
        self, chunk: Sequence[posts.BulkPost], photos: Sequence[media.StoredPhoto]
    ) -> list[media.BulkAttachment]:
        out: list[media.BulkAttachment] = []
        for post in chunk:
            picked = (
                self.rng.sample(photos, post.media_count)
                if len(photos) >= post.media_count
                else self.rng.choices(photos, k=post.media_count)
            )
            ms, shard = post.id >> 16, shard_of(post.id)
            for position, photo in enumerate(picked):
                out.append(
                    media.BulkAttachment(
                        id=self.media_ids.at(ms, shard),
                        account_id=post.account_id,
                        post_id=post.id,
                        position=position,
                        created_at=post.created_at,
                        photo=photo,
                        description="A generated picture",
                    )
                )
        return out


def _plan(rng: random.Random, options: SeedOptions, now_ms: int) -> _Plan:
    window_ms = options.days * DAY_MS
    window_start = now_ms - window_ms
    ids = _Ids(rng)
    created_ms = sorted(
        rng.randint(window_start - 2 * window_ms, window_start - 1) for _ in range(options.users)
    )
    account_ids = [ids.at(ms, rng.randrange(SHARDS)) for ms in created_ms]
    graph = _follow_targets(rng, options.users, options.mean_follows)
    activity = [rng.lognormvariate(0, 1) for _ in range(options.users)]
    authors = rng.choices(range(options.users), weights=activity, k=options.posts)
    post_times = sorted((rng.randint(window_start, now_ms), author) for author in authors)
    return _Plan(rng, options.prefix, account_ids, created_ms, graph, post_times)


def _caption(rng: random.Random) -> str:
    start = rng.randrange(len(_WORDS) - 6)
    words = " ".join(_WORDS[start : start + rng.randint(3, 6)]).capitalize()
    tags = " ".join(f"#{tag}" for tag in rng.sample(_TAGS, rng.randint(1, 3)))
    return f"{words} {tags}"


def _image(rng: random.Random, index: int) -> bytes:
    """A JPEG of coloured noise (a landscape, portrait or square frame)."""
    width, height = rng.choice([(1600, 1200), (1200, 1500), (1400, 1400), (1800, 1000)])
    bands = [
        pyvips.Image.perlin(width, height, cell_size=rng.choice([64, 128, 256]), seed=index * 3 + b)
        for b in range(3)
    ]
    image = ((bands[0].bandjoin(bands[1:]) + 1) * 127.5).cast("uchar")
    data: bytes = image.jpegsave_buffer(Q=85)
    return data


def _chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(islice(items, size)):
        yield chunk


async def _in_batches(
    runtime: Runtime,
    insert: Callable[[AsyncSession, Sequence[T]], Awaitable[None]],
    rows: Iterator[T],
    size: int,
) -> None:
    """One transaction per batch: a failure loses at most the batch under way."""
    for chunk in _chunks(rows, size):
        async with session_scope(runtime.sessions) as session:
            await insert(session, chunk)
