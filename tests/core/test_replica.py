"""Read scaling against a real streaming replica (`TESSERA_DATABASE_REPLICA_URL`).

The test makes a private PostgreSQL primary and, with `pg_basebackup`, its hot standby;
the app reads from the standby and writes to the primary. Pausing the standby's replay
(`pg_wal_replay_pause()`) makes it lag for as long as a test wants: what a reader sees
then shows where its reads came from. Scaled backend only (Redis holds the accounts'
write positions); the settings check runs on both.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from tessera.api import create_app
from tessera.core.config import ConfigError, load_settings
from tessera.core.db import create_engine, migrate
from tests.conftest import (
    BACKEND,
    Backend,
    OAuthClient,
    User,
    register_oauth_client,
    sign_up_user,
)
from tests.feed.helpers import HOME, follow, settle
from tests.postgres import PrivatePostgres, private_postgres, require_programs
from tests.posts.helpers import STATUSES, publish
from tests.web.helpers import PAGE, browser_of, submit, text_of

SCALED_ONLY = pytest.mark.skipif(
    BACKEND != "scaled", reason="a replica needs the scaled backend (PostgreSQL and Redis)"
)
DEADLINE = 15.0
"""Seconds a resumed replica, or one started again, may take to be read from."""
POLL = 0.05


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    """A private primary and its streaming replica."""
    require_programs()
    with private_postgres() as primary, private_postgres(replica_of=primary) as replica:
        yield primary, replica


@pytest.fixture(scope="module")
async def replicated(
    servers: tuple[PrivatePostgres, PrivatePostgres], backend: Backend
) -> AsyncIterator[httpx.AsyncClient]:
    """An app on the primary (migrated there; the replica follows) and its replica, with
    Redis keys under the session backend's prefix (removed with it)."""
    primary, replica = servers
    settings = load_settings(
        **{
            **backend.settings_overrides,
            "database_url": primary.url,
            "database_replica_url": replica.url,
            "redis_prefix": f"{backend.settings_overrides['redis_prefix']}replica:",
        }
    )
    engine = create_engine(settings)
    await migrate(engine)
    await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as http:
            yield http


@pytest.fixture(scope="module")
async def oauth_app(replicated: httpx.AsyncClient) -> OAuthClient:
    return await register_oauth_client(replicated)


@pytest.fixture(scope="module")
async def people(replicated: httpx.AsyncClient, oauth_app: OAuthClient) -> tuple[User, User]:
    """An author and a reader who follows them and has a home feed."""
    author, reader = [
        await sign_up_user(replicated, oauth_app, stem) for stem in ("author", "reader")
    ]
    await follow(replicated, reader, author)
    await home_ids(replicated, reader)  # builds the feed (a rebuild reads the primary)
    return author, reader


@pytest.fixture(scope="module")
async def earlier_post(replicated: httpx.AsyncClient, people: tuple[User, User]) -> str:
    """A post of the author's, which statuses render with the author's cached entity."""
    post = await publish(replicated, people[0], "an earlier post")
    return str(post["id"])


@asynccontextmanager
async def lagging(servers: tuple[PrivatePostgres, PrivatePostgres]) -> AsyncIterator[None]:
    """Inside the block the replica replays nothing (it still receives the WAL); it has
    replayed everything written before."""
    primary, replica = [await asyncpg.connect(dsn(server)) for server in servers]
    try:
        written = await primary.fetchval("SELECT pg_current_wal_insert_lsn()")
        await until(replica, "pg_last_wal_replay_lsn() >= $1", written)
        await replica.execute("SELECT pg_wal_replay_pause()")
        await until(replica, "pg_get_wal_replay_pause_state() = 'paused'")
        yield
    finally:
        await replica.execute("SELECT pg_wal_replay_resume()")
        await asyncio.gather(primary.close(), replica.close())


def dsn(server: PrivatePostgres) -> str:
    return server.url.replace("+asyncpg", "")


async def until(connection: asyncpg.Connection, condition: str, *args: object) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await connection.fetchval(f"SELECT {condition}", *args):
        assert time.monotonic() < deadline, f"never {condition}"
        await asyncio.sleep(POLL)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {DEADLINE}s")
        await asyncio.sleep(POLL)  # a poll interval, not a wait for the outcome


async def status(client: httpx.AsyncClient, status_id: str, viewer: User | None) -> int:
    response = await client.get(f"{STATUSES}/{status_id}", headers=viewer.auth if viewer else {})
    assert response.status_code in (200, 404), response.text
    return response.status_code


async def home_ids(client: httpx.AsyncClient, user: User) -> list[str]:
    response = await client.get(HOME, headers=user.auth)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def author_name(client: httpx.AsyncClient, status_id: str, viewer: User | None) -> str:
    """The author's name in a Status (from the cached account entity, or loaded)."""
    response = await client.get(f"{STATUSES}/{status_id}", headers=viewer.auth if viewer else {})
    assert response.status_code == 200, response.text
    name: str = response.json()["account"]["display_name"]
    return name


async def rename(client: httpx.AsyncClient, user: User) -> str:
    name = f"Renamed {secrets.token_hex(3)}"
    response = await client.patch(
        "/api/v1/accounts/update_credentials", headers=user.auth, data={"display_name": name}
    )
    assert response.status_code == 200, response.text
    return name


@SCALED_ONLY
async def test_the_author_sees_a_new_post_at_once_and_others_once_the_replica_has_it(
    replicated: httpx.AsyncClient,
    people: tuple[User, User],
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    author, reader = people
    async with lagging(servers):
        post = await publish(replicated, author, "while the replica lags")
        await settle(replicated)  # fanned out into the reader's home feed (from the primary)

        # Everyone else reads the replica, which has not replayed the post yet.
        assert await status(replicated, post["id"], None) == 404
        assert await status(replicated, post["id"], reader) == 404
        assert post["id"] not in await home_ids(replicated, reader)

        assert await status(replicated, post["id"], author) == 200
        assert (
            await replicated.get(f"/api/v1/accounts/{author.id}/statuses", headers=author.auth)
        ).json()[0]["id"] == post["id"]

    async def seen_by_everyone() -> bool:
        return (
            await status(replicated, post["id"], None) == 200
            and await status(replicated, post["id"], reader) == 200
            and post["id"] in await home_ids(replicated, reader)
        )

    await eventually(seen_by_everyone, "visible to everyone once replay resumed")


@SCALED_ONLY
async def test_an_account_sees_its_own_change_even_when_a_lagging_read_cached_the_old(
    replicated: httpx.AsyncClient,
    people: tuple[User, User],
    earlier_post: str,
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    author, _ = people
    async with lagging(servers):
        name = await rename(replicated, author)
        # Read on the replica, and cached: the write's eviction came before.
        assert await author_name(replicated, earlier_post, None) != name
        assert await author_name(replicated, earlier_post, author) == name


@SCALED_ONLY
async def test_what_a_lagging_read_cached_is_replaced_once_the_replica_catches_up(
    replicated: httpx.AsyncClient,
    people: tuple[User, User],
    earlier_post: str,
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    """Account entities are cached for ten minutes; readers must not wait that long."""
    author, _ = people
    async with lagging(servers):
        name = await rename(replicated, author)
        assert await author_name(replicated, earlier_post, None) != name

    async def renamed() -> bool:
        return await author_name(replicated, earlier_post, None) == name

    await eventually(renamed, "renamed for anonymous readers once replay resumed")


@SCALED_ONLY
async def test_a_new_account_reads_itself_at_once(
    replicated: httpx.AsyncClient,
    oauth_app: OAuthClient,
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    async with lagging(servers):
        newcomer = await sign_up_user(replicated, oauth_app, "newcomer")
        path = f"/api/v1/accounts/{newcomer.id}"
        assert (await replicated.get(path, headers=newcomer.auth)).status_code == 200
        assert (await replicated.get(f"{path}/statuses", headers=newcomer.auth)).json() == []
        assert (await replicated.get(path)).status_code == 404  # not on the replica yet


@SCALED_ONLY
async def test_a_comment_sent_from_the_web_form_is_on_the_page_it_leads_back_to(
    replicated: httpx.AsyncClient,
    people: tuple[User, User],
    earlier_post: str,
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    """The web app's session cookie names the acting account, as a token does."""
    _, reader = people
    page = f"/p/{earlier_post}"
    async with browser_of(replicated, reader) as browser, lagging(servers):
        sent = await submit(browser, page, f"{page}/comments", {"status": "Lovely light"})
        assert sent.status_code == 303
        assert "Lovely light" in text_of((await browser.get(page, headers=PAGE)).text)
        assert "Lovely light" not in text_of((await replicated.get(page, headers=PAGE)).text)


@SCALED_ONLY
async def test_reads_go_to_the_primary_while_the_replica_is_down_and_back_after(
    replicated: httpx.AsyncClient,
    people: tuple[User, User],
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    author, reader = people
    replica = servers[1]
    replica.stop()
    try:
        post = await publish(replicated, author, "while the replica is down")
        await settle(replicated)
        # Served by the primary: no error, and nothing is missing.
        assert await status(replicated, post["id"], author) == 200
        assert await status(replicated, post["id"], None) == 200
        assert await status(replicated, post["id"], reader) == 200
        assert post["id"] in await home_ids(replicated, reader)
        assert (await replicated.get("/api/v1/timelines/public")).status_code == 200
    finally:
        replica.start()

    async with lagging(servers):
        unseen = await publish(replicated, author, "while the restarted replica lags")

        async def replica_read_again() -> bool:
            return await status(replicated, unseen["id"], None) == 404

        await eventually(replica_read_again, "read from the replica again")


def test_a_replica_needs_postgresql() -> None:
    replica = "postgresql+asyncpg://postgres@127.0.0.1:5433/tessera"
    with pytest.raises(ConfigError) as refused:
        load_settings(database_url=None, database_replica_url=replica)
    assert str(refused.value) == (
        "invalid settings: TESSERA_DATABASE_REPLICA_URL needs TESSERA_DATABASE_URL on "
        "PostgreSQL (SQLite has no replicas)"
    )
    with pytest.raises(ConfigError, match="TESSERA_DATABASE_REPLICA_URL: must start with "):
        load_settings(
            database_url="postgresql+asyncpg://postgres@127.0.0.1/tessera",
            database_replica_url="mysql://replica/tessera",
        )
