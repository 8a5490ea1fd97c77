"""Fan-out in batches: every follower gets the post, and each feed keeps only its newest."""

from __future__ import annotations

import httpx
import pytest

from tessera.feed import stores
from tests.conftest import AppFactory, MakeUser
from tests.feed.helpers import delete_status, follow, home, settle, stored_ids
from tests.posts.helpers import publish


async def test_every_follower_gets_the_post_however_the_work_is_batched(
    client: httpx.AsyncClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny batches, so that 7 followers span several statements, script calls and pipelines.
    monkeypatch.setattr(stores, "BATCH", 2)
    monkeypatch.setattr(stores, "SCRIPT_KEYS", 2)
    monkeypatch.setattr(stores, "SCRIPT_CALLS", 2)
    author = await make_user("author")
    fans = [await make_user("fan") for _ in range(7)]
    for fan in fans:
        await follow(client, fan, author)
    post = await publish(client, author)
    await settle(client)
    for fan in fans:
        assert await stored_ids(client, fan) == {int(post["id"])}
        assert await home(client, fan) == [post["id"]]

    await delete_status(client, author, post["id"])
    for fan in fans:
        assert await stored_ids(client, fan) == set()
        assert await home(client, fan) == []


async def test_a_home_feed_keeps_only_its_newest_posts(
    make_client: AppFactory, make_user: MakeUser
) -> None:
    small = await make_client(feed_size=3)
    author = await make_user("author")
    fan = await make_user("fan")
    await follow(small, fan, author)
    posts = [await publish(small, author) for _ in range(5)]
    await settle(small)
    newest = [post["id"] for post in reversed(posts)][:3]
    assert await stored_ids(small, fan) == {int(post_id) for post_id in newest}
    assert await home(small, fan) == newest
