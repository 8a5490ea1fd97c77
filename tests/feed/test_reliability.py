"""Fan-out survives crashes and broker outages: every follower gets each post exactly once.

These drive real `tessera serve` and `tessera worker` processes on a backend of their
own (so that no relay of this test session touches their outbox), kill them with
SIGKILL, and cut RabbitMQ off behind a proxy. Feeds are checked in the feed store (all
followers', for their exact contents) and through the home timeline (a few followers').
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import make_url

from tessera import accounts
from tessera.core.db import session_scope, utcnow
from tessera.core.ids import new_id
from tessera.core.runtime import Runtime
from tests.accounts.helpers import App, password_grant, register_app
from tests.broker import RABBIT_URL, Names, TcpProxy
from tests.conftest import BACKEND, User, unique_name
from tests.deployment import Deployment
from tests.feed.helpers import home, stored_feeds
from tests.posts.helpers import publish

pytestmark = pytest.mark.e2e

FOLLOWERS = 50_000 if BACKEND == "scaled" else 10_000
"""Enough that the fan-out of one post can be caught half-way. SQL feeds are written in
one transaction, so any moment of it will do. Redis feeds go out 10,000 to a pipeline,
and a pipeline once sent is carried out whatever becomes of its sender: 10,000 is one
pipeline, and 20,000 (two) was over before the kill once in four runs."""
SAMPLE = 200
"""Followers whose feeds are watched to see a fan-out under way."""
BATCH = 5000
"""Rows per transaction when loading the followers."""
DEADLINE = 30.0
"""Seconds any one awaited effect may take."""
POLL = 0.1
"""Seconds between two looks at an effect that is on its way."""
SQL_WRITE = 0.05
"""Seconds the SQLite write lock must be seen held to count as the fan-out's (a relay
marking events published holds it for about a millisecond)."""


@dataclass
class Star:
    """An author and their followers, loaded in bulk; every one has `password`."""

    author_id: int
    followers: list[int]
    usernames: dict[int, str]
    password: str

    async def log_in(self, api: httpx.AsyncClient, app: App, account_id: int) -> User:
        username = self.usernames[account_id]
        response = await password_grant(api, app, username, self.password)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return User(str(account_id), username, f"{username}@example.org", self.password, token)


async def bulk_star(runtime: Runtime, followers: int) -> Star:
    """An author with `followers` followers, through the accounts service's `bulk_*`
    functions: seconds, and no events, so no feed is written."""
    password = secrets.token_urlsafe(12)
    password_hash = await accounts.hash_password(password)
    now = utcnow()
    author_id, stem = new_id(), unique_name("star")
    ids = [new_id() for _ in range(followers)]
    usernames = {author_id: stem} | {i: f"{stem}_{n}" for n, i in enumerate(ids)}
    rows = [
        accounts.BulkAccount(
            id=account_id,
            username=username,
            display_name=username,
            email=f"{username}@example.org",
            password_hash=password_hash,
            created_at=now,
            followers_count=followers if account_id == author_id else 0,
            following_count=0 if account_id == author_id else 1,
            statuses_count=0,
            last_status_at=None,
        )
        for account_id, username in usernames.items()
    ]
    follows = [accounts.BulkFollow(new_id(i), i, author_id, now) for i in ids]
    for start in range(0, len(rows), BATCH):
        async with session_scope(runtime.sessions) as session:
            await accounts.bulk_insert_accounts(session, rows[start : start + BATCH])
    for start in range(0, len(follows), BATCH):
        async with session_scope(runtime.sessions) as session:
            await accounts.bulk_insert_follows(session, follows[start : start + BATCH])
    return Star(author_id, ids, usernames, password)


async def holders(runtime: Runtime, account_ids: Sequence[int], post_id: int) -> int:
    """How many of these stored feeds hold the post."""
    feeds = await stored_feeds(runtime, account_ids)
    return sum(post_id in posts for posts in feeds.values())


def sqlite_write_locked(runtime: Runtime) -> bool:
    """Whether a connection is inside a write transaction on the SQLite database."""
    path = make_url(runtime.settings.effective_database_url).database
    assert path, "the SQL feed store is watched on SQLite only"
    with contextlib.closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as probe:
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                return True
            raise
        probe.execute("ROLLBACK")
        return False


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, deployment: Deployment
) -> None:
    """Return once `check()` holds; fail, with the processes' logs, after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {DEADLINE}s\n{deployment.log_text()}")
        await asyncio.sleep(POLL)


async def catch_under_way(deployment: Deployment, sample: Sequence[int], post_id: int) -> None:
    """Return while the post's fan-out has begun and not ended.

    Redis feeds are written a batch at a time, so some of the sample hold the post and
    some do not. SQL feeds are written in one transaction: none holds the post yet while
    its write lock is held.
    """
    runtime = deployment.runtime
    deadline = time.monotonic() + DEADLINE
    locked_since: float | None = None
    while time.monotonic() < deadline:
        held = await holders(runtime, sample, post_id)
        if runtime.redis is not None:
            if 0 < held < len(sample):
                return
        elif held == 0 and sqlite_write_locked(runtime):
            locked_since = locked_since or time.monotonic()
            if time.monotonic() - locked_since >= SQL_WRITE:
                return
        else:
            locked_since = None
        await asyncio.sleep(0.002)  # a poll interval: the fan-out lasts a second or so
    pytest.fail(f"never saw the fan-out under way\n{deployment.log_text()}")


@pytest.mark.parametrize("relay", ["broker", "in-process"])
async def test_a_fan_out_killed_half_way_reaches_every_follower_once_after_a_restart(
    deployment: Deployment, broker: Names, relay: str
) -> None:
    deployment.configure(fanout_threshold=FOLLOWERS)
    if relay == "broker":
        exchange = broker.exchange(unique_name("kill"))
        deployment.configure(broker_url=RABBIT_URL, broker_exchange=exchange)
    star = await bulk_star(deployment.runtime, FOLLOWERS)
    server = await deployment.serve(*(["--no-worker"] if relay == "broker" else []))
    worker = deployment.worker() if relay == "broker" else None
    async with httpx.AsyncClient(base_url=server.url) as api:
        app = await register_app(api)
        author = await star.log_in(api, app, star.author_id)
        fans = [await star.log_in(api, app, follower) for follower in star.followers[:3]]
        for fan in fans:
            assert await home(api, fan) == []  # builds the feed: from now on, only fan-out fills it
        post_id = int((await publish(api, author))["id"])
        await catch_under_way(deployment, random.sample(star.followers, SAMPLE), post_id)

    deployment.kill(worker or server.process)
    reached = await holders(deployment.runtime, star.followers, post_id)
    assert reached < FOLLOWERS, "the fan-out ended before the kill: raise FOLLOWERS"

    if worker is not None:
        deployment.worker()
    else:
        server = await deployment.serve()

    async def everyone_has_it() -> bool:
        return await holders(deployment.runtime, star.followers, post_id) == FOLLOWERS

    await eventually(everyone_has_it, "in every follower's feed", deployment)
    feeds = await stored_feeds(deployment.runtime, star.followers)
    wrong = {follower: posts for follower, posts in feeds.items() if posts != [post_id]}
    assert not wrong, f"{len(wrong)} feeds differ, e.g. {list(wrong.items())[:5]}"
    async with httpx.AsyncClient(base_url=server.url) as api:
        for fan in fans:
            assert await home(api, fan) == [str(post_id)]


async def test_posts_made_while_rabbitmq_is_unreachable_reach_every_feed_once_it_is_back(
    deployment: Deployment, broker: Names
) -> None:
    proxy = TcpProxy()
    try:
        proxy.up()
        exchange = broker.exchange(unique_name("outage"))
        deployment.configure(broker_url=proxy.url(), broker_exchange=exchange)
        star = await bulk_star(deployment.runtime, 3)
        server = await deployment.serve()
        async with httpx.AsyncClient(base_url=server.url) as api:
            app = await register_app(api)
            author = await star.log_in(api, app, star.author_id)
            fans = [await star.log_in(api, app, follower) for follower in star.followers]
            for fan in fans:
                assert await home(api, fan) == []  # builds the feed: only fan-out fills it

            async def timelines_are(expected: list[str]) -> bool:
                return [await home(api, fan) for fan in fans] == [expected] * len(fans)

            first = (await publish(api, author))["id"]
            await eventually(
                lambda: timelines_are([first]), "delivered through the proxy", deployment
            )

            proxy.down()
            later = [(await publish(api, author))["id"] for _ in range(3)]  # each answers 200
            assert await timelines_are([first])  # nothing can have delivered them
            proxy.up()
            expected = [*reversed(later), first]
            await eventually(
                lambda: timelines_are(expected), "delivered after the outage", deployment
            )

        feeds = await stored_feeds(deployment.runtime, star.followers)
        assert feeds == {follower: sorted(map(int, expected)) for follower in star.followers}
    finally:
        proxy.close()
