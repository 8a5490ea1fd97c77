"""Hydrating a timeline page: a constant number of queries whatever the page holds, and
cached entities that never show a profile older than its last change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from tests.accounts.helpers import runtime_of
from tests.conftest import MakeUser, User
from tests.feed.helpers import HOME, follow, settle, timeline
from tests.posts.helpers import publish


@contextmanager
def counted_queries(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """The SQL statements the app behind `client` sends while the block runs."""
    engine = runtime_of(client).engine.sync_engine
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def page_cost(client: httpx.AsyncClient, reader: User, limit: int) -> int:
    """Statements for one home page of `limit` posts, read twice so the cache is warm."""
    first = await timeline(client, HOME, reader, limit=limit)
    assert len(first.json()) == limit
    with counted_queries(client) as sent:
        again = await timeline(client, HOME, reader, limit=limit)
    assert again.json() == first.json()
    return len(sent)


async def test_page_cost_does_not_grow_with_the_page(
    feed_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    client = feed_client
    reader = await make_user("reader")
    for n in range(12):
        author = await make_user(f"author{n}")
        await follow(client, reader, author)
        await publish(client, author, f"#photo {n} by @{reader.username}", photos=2)
    await settle(client)

    assert await page_cost(client, reader, 2) == await page_cost(client, reader, 12)


async def test_a_warm_page_needs_fewer_queries(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    reader, author = await make_user("reader"), await make_user("author")
    await follow(client, reader, author)
    await publish(client, author, "hello")
    await settle(client)
    await runtime_of(client).cache.delete(f"account:{author.id}")

    with counted_queries(client) as cold:
        await timeline(client, HOME, reader)
    with counted_queries(client) as warm:
        await timeline(client, HOME, reader)

    assert len(warm) < len(cold)


async def test_profile_changes_show_at_once_in_timelines(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    reader, author, fan = (
        await make_user("reader"),
        await make_user("author"),
        await make_user("fan"),
    )
    await follow(client, reader, author)
    await publish(client, author, "hello")
    await settle(client)
    before = (await timeline(client, HOME, reader)).json()[0]["account"]

    renamed = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=author.auth,
        data={"display_name": "A New Name"},
    )
    assert renamed.status_code == 200, renamed.text
    await follow(client, fan, author)

    after = (await timeline(client, HOME, reader)).json()[0]["account"]
    assert after["display_name"] == "A New Name" != before["display_name"]
    assert after["followers_count"] == before["followers_count"] + 1
