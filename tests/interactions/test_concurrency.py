"""Counts stay exact when many requests race: each request has its own transaction (and,
on PostgreSQL, its own connection), as separate clients would.

At most `IN_FLIGHT` requests run at once: the app's steady connection pool. More would
open overflow connections, which the rest of a test run sharing the server's connection
limit may need; ten transactions on one row at a time race just as well.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Iterable
from typing import TypeVar

import httpx

from tests.conftest import MakeUser, User
from tests.feed.helpers import settle
from tests.interactions.helpers import act, events, favourites_count, like_rows
from tests.posts.helpers import STATUSES, publish

T = TypeVar("T")
IN_FLIGHT = 10


async def _together(calls: Iterable[Awaitable[T]]) -> list[T]:
    """All the calls at once, `IN_FLIGHT` at a time, in their order."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def gated(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(gated(call) for call in calls)))


async def _people(make_user: MakeUser, count: int) -> list[User]:
    return await _together(make_user("crowd") for _ in range(count))


def _all_ok(responses: list[httpx.Response]) -> None:
    assert [r.status_code for r in responses] == [200] * len(responses), [
        r.text for r in responses if r.status_code != 200
    ]


async def test_fifty_people_liking_at_once_count_fifty(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("star")
    post = await publish(client, author)
    crowd = await _people(make_user, 50)

    _all_ok(await _together(act(client, fan, post["id"], "favourite") for fan in crowd))

    assert await favourites_count(client, author, post["id"]) == 50
    assert await like_rows(client, post["id"]) == 50
    assert len(await events(client, "favourite.created", post["id"])) == 50


async def test_one_person_liking_many_times_at_once_counts_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("star"), await make_user("eager")
    post = await publish(client, author)

    _all_ok(await _together(act(client, fan, post["id"], "favourite") for _ in range(10)))

    assert await favourites_count(client, author, post["id"]) == 1
    assert await like_rows(client, post["id"]) == 1
    assert len(await events(client, "favourite.created", post["id"])) == 1


async def test_likes_racing_with_unlikes_keep_the_count_equal_to_the_likes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("star")
    post = await publish(client, author)
    crowd = await _people(make_user, 30)
    for fan in crowd[:15]:
        assert (await act(client, fan, post["id"], "favourite")).status_code == 200
    # Everyone sends a burst of likes and unlikes, all at once, in a random order.
    requests = [
        (fan, action) for fan in crowd for action in ("favourite", "unfavourite", "favourite")
    ]
    random.shuffle(requests)

    _all_ok(await _together(act(client, fan, post["id"], action) for fan, action in requests))

    rows = await like_rows(client, post["id"])
    assert await favourites_count(client, author, post["id"]) == rows
    created = len(await events(client, "favourite.created", post["id"]))
    deleted = len(await events(client, "favourite.deleted", post["id"]))
    assert created - deleted == rows


async def test_likes_racing_with_the_posts_deletion_leave_no_like_behind(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("star")
    post = await publish(client, author)
    crowd = await _people(make_user, 20)
    likes = [act(client, fan, post["id"], "favourite") for fan in crowd]
    deletion = client.delete(f"{STATUSES}/{post['id']}", headers=author.auth)

    answers = await _together([*likes[:10], deletion, *likes[10:]])
    deleted, liked = answers[10], answers[:10] + answers[11:]

    assert deleted.status_code == 200, deleted.text
    assert {r.status_code for r in liked} <= {200, 404}
    await settle(client)
    assert await like_rows(client, post["id"]) == 0
