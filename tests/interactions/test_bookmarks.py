"""Saved posts: POST /statuses/:id/bookmark and /unbookmark, GET /bookmarks."""

from __future__ import annotations

import httpx

from tests.accounts.helpers import bearer, login, register_app
from tests.conftest import MakeUser
from tests.feed.helpers import follow, unfollow
from tests.interactions.helpers import act, acted, ids, listed, status_of
from tests.posts.helpers import event_count, publish

BOOKMARKS = "/api/v1/bookmarks"


async def test_saving_is_idempotent_private_and_counts_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, saver = await make_user("author"), await make_user("saver")
    post = await publish(client, author, "Save me")
    events_before = await event_count(client)

    first = await acted(client, saver, post["id"], "bookmark")
    again = await acted(client, saver, post["id"], "bookmark")

    assert first["bookmarked"] is again["bookmarked"] is True
    assert first["favourited"] is False
    assert first["favourites_count"] == 0
    assert (await status_of(client, author, post["id"]))["bookmarked"] is False
    assert ids(await listed(client, BOOKMARKS, saver)) == [post["id"]]
    assert ids(await listed(client, BOOKMARKS, author)) == []

    assert (await acted(client, saver, post["id"], "unbookmark"))["bookmarked"] is False
    assert (await acted(client, saver, post["id"], "unbookmark"))["bookmarked"] is False
    assert ids(await listed(client, BOOKMARKS, saver)) == []
    assert await event_count(client) == events_before  # saving is nobody else's business


async def test_bookmarks_page_in_the_order_of_saving(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, saver = await make_user("author"), await make_user("saver")
    posts = [(await publish(client, author, f"post {n}"))["id"] for n in range(3)]
    for index in (1, 0, 2):
        await acted(client, saver, posts[index], "bookmark")

    first = await listed(client, BOOKMARKS, saver, limit=2)

    assert ids(first) == [posts[2], posts[0]]
    assert all(status["bookmarked"] for status in first.json())
    second = await client.get(first.links["next"]["url"], headers=saver.auth)
    assert ids(second) == [posts[1]]
    assert "next" not in second.links


async def test_saved_posts_one_can_no_longer_see_are_left_out(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, saver = await make_user("author"), await make_user("saver")
    await follow(client, saver, author)
    private = await publish(client, author, "friends", visibility="private")
    public = await publish(client, author, "all")
    await acted(client, saver, private["id"], "bookmark")
    await acted(client, saver, public["id"], "bookmark")

    await unfollow(client, saver, author)

    assert ids(await listed(client, BOOKMARKS, saver)) == [public["id"]]
    assert (await act(client, saver, private["id"], "bookmark")).status_code == 404


async def test_bookmarks_need_the_bookmarks_scopes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, saver = await make_user("author"), await make_user("saver")
    post = await publish(client, author)
    app = await register_app(client, scopes="read:favourites write:favourites")
    token = bearer(
        (await login(client, app, saver, "read:favourites write:favourites"))["access_token"]
    )

    response = await client.post(f"/api/v1/statuses/{post['id']}/bookmark", headers=token)
    assert response.status_code == 403
    assert (await client.get(BOOKMARKS, headers=token)).status_code == 403
    assert (await client.get(BOOKMARKS)).status_code == 401
    assert ids(await listed(client, BOOKMARKS, saver)) == []
