"""Likes: POST /statuses/:id/favourite and /unfavourite, GET /statuses/:id/favourited_by,
GET /favourites; counts, events, visibility, pagination, refusals."""

from __future__ import annotations

import httpx
import pytest

from tests.accounts.helpers import bearer, login, register_app
from tests.conftest import MakeUser, OAuthClient, User
from tests.feed.helpers import delete_status, follow
from tests.interactions.helpers import (
    act,
    acted,
    events,
    favourites_count,
    ids,
    like_rows,
    listed,
    status_of,
)
from tests.posts.helpers import STATUSES, publish

FAVOURITES = "/api/v1/favourites"


async def test_liking_twice_counts_once_and_unliking_twice_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("author"), await make_user("fan")
    post = await publish(client, author, "Like me")

    first = await acted(client, fan, post["id"], "favourite")
    again = await acted(client, fan, post["id"], "favourite")

    assert first["id"] == post["id"]
    assert first["favourited"] is again["favourited"] is True
    assert first["favourites_count"] == again["favourites_count"] == 1
    assert (await status_of(client, author, post["id"]))["favourited"] is False
    assert await favourites_count(client, author, post["id"]) == 1
    assert await like_rows(client, post["id"]) == 1
    payload = {
        "account_id": int(fan.id),
        "post_id": int(post["id"]),
        "post_author_id": int(author.id),
    }
    assert await events(client, "favourite.created", post["id"]) == [payload]

    first = await acted(client, fan, post["id"], "unfavourite")
    again = await acted(client, fan, post["id"], "unfavourite")

    assert first["favourited"] is again["favourited"] is False
    assert first["favourites_count"] == again["favourites_count"] == 0
    assert await like_rows(client, post["id"]) == 0
    assert await events(client, "favourite.deleted", post["id"]) == [payload]
    assert len(await events(client, "favourite.created", post["id"])) == 1


async def test_unliking_what_was_never_liked_changes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan, other = await make_user("author"), await make_user("fan"), await make_user()
    post = await publish(client, author)
    await acted(client, other, post["id"], "favourite")

    body = await acted(client, fan, post["id"], "unfavourite")

    assert body["favourited"] is False
    assert body["favourites_count"] == 1
    assert await events(client, "favourite.deleted", post["id"]) == []


async def test_anyone_may_like_their_own_post_and_comments(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("author")
    post = await publish(client, author)
    reply = await client.post(
        STATUSES, headers=author.auth, data={"status": "me too", "in_reply_to_id": post["id"]}
    )

    assert (await acted(client, author, post["id"], "favourite"))["favourites_count"] == 1
    liked = await acted(client, author, reply.json()["id"], "favourite")
    assert liked["favourited"] is True
    assert liked["favourites_count"] == 1


async def test_favourited_by_pages_likers_newest_first(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("author")
    likers = [await make_user(f"liker{n}") for n in range(3)]
    post = await publish(client, author)
    for liker in likers:
        await acted(client, liker, post["id"], "favourite")
    path = f"{STATUSES}/{post['id']}/favourited_by"

    first = await listed(client, path, limit=2)  # anonymous: the post is public

    assert ids(first) == [likers[2].id, likers[1].id]
    assert first.json()[0]["acct"] == likers[2].username
    assert 'rel="next"' in first.headers["link"]
    assert "since_id=" in first.links["prev"]["url"]
    second = await client.get(first.links["next"]["url"])
    assert ids(second) == [likers[0].id]
    assert "next" not in second.links
    newer = await client.get(second.links["prev"]["url"])
    assert ids(newer) == [likers[2].id, likers[1].id]
    everyone = await listed(client, path, author)
    assert ids(everyone) == [liker.id for liker in reversed(likers)]


async def test_favourites_lists_posts_in_the_order_they_were_liked(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("author"), await make_user("fan")
    posts = [(await publish(client, author, f"post {n}"))["id"] for n in range(3)]
    for index in (0, 2, 1):
        await acted(client, fan, posts[index], "favourite")
    liked = [posts[1], posts[2], posts[0]]  # most recently liked first

    first = await listed(client, FAVOURITES, fan, limit=2)

    assert ids(first) == liked[:2]
    assert all(status["favourited"] for status in first.json())
    # The cursors are the likes' ids, not the posts' (pages follow the order of liking).
    cursor = first.links["next"]["url"].rsplit("max_id=", 1)[1]
    assert cursor not in posts
    second = await client.get(first.links["next"]["url"], headers=fan.auth)
    assert ids(second) == liked[2:]
    assert "next" not in second.links
    assert "min_id=" in second.links["prev"]["url"]
    back = await client.get(second.links["prev"]["url"], headers=fan.auth)
    assert ids(back) == liked[:2]

    await acted(client, fan, posts[2], "unfavourite")
    assert ids(await listed(client, FAVOURITES, fan)) == [posts[1], posts[0]]
    assert ids(await listed(client, FAVOURITES, author)) == []


async def test_a_deleted_post_is_not_found_and_its_likes_go(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan, late = await make_user("author"), await make_user("fan"), await make_user()
    post = await publish(client, author)
    await acted(client, fan, post["id"], "favourite")
    await acted(client, fan, post["id"], "bookmark")

    await delete_status(client, author, post["id"])  # and waits for the handlers

    for action in ("favourite", "unfavourite", "bookmark", "unbookmark"):
        response = await act(client, late, post["id"], action)
        assert response.status_code == 404
        assert response.json() == {"error": "Record not found"}
    gone = await client.get(f"{STATUSES}/{post['id']}/favourited_by")
    assert gone.status_code == 404
    assert ids(await listed(client, FAVOURITES, fan)) == []
    assert ids(await listed(client, "/api/v1/bookmarks", fan)) == []
    assert await like_rows(client, post["id"]) == 0
    assert await events(client, "favourite.created", post["id"]) == [
        {"account_id": int(fan.id), "post_id": int(post["id"]), "post_author_id": int(author.id)}
    ]


async def _private_post(client: httpx.AsyncClient, make_user: MakeUser) -> tuple[User, str]:
    author = await make_user("private")
    post = await publish(client, author, "friends only", visibility="private")
    return author, post["id"]


async def test_a_post_one_may_not_see_is_not_found_and_keeps_its_count(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, post_id = await _private_post(client, make_user)
    friend, stranger = await make_user("friend"), await make_user("stranger")
    await follow(client, friend, author)
    await acted(client, friend, post_id, "favourite")

    for action in ("favourite", "unfavourite", "bookmark", "unbookmark"):
        response = await act(client, stranger, post_id, action)
        assert response.status_code == 404, action
    for viewer in (stranger, None):
        headers = viewer.auth if viewer else {}
        for part in ("favourited_by", "context"):
            response = await client.get(f"{STATUSES}/{post_id}/{part}", headers=headers)
            assert response.status_code == 404, part

    assert await favourites_count(client, author, post_id) == 1
    assert await like_rows(client, post_id) == 1
    assert len(await events(client, "favourite.created", post_id)) == 1
    assert ids(await listed(client, f"{STATUSES}/{post_id}/favourited_by", friend)) == [friend.id]


async def test_a_locked_account_hides_its_posts_from_pending_followers(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("locked", locked=True)
    post = await publish(client, author, "public but locked")
    requester = await make_user("requester")
    await client.post(f"/api/v1/accounts/{author.id}/follow", headers=requester.auth)

    assert (await act(client, requester, post["id"], "favourite")).status_code == 404
    assert await favourites_count(client, author, post["id"]) == 0


async def test_after_losing_sight_of_a_post_its_like_stays_but_is_not_listed(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Unliking needs sight of the post too (a 404 otherwise, like every other action)."""
    author, post_id = await _private_post(client, make_user)
    fan = await make_user("fan")
    await follow(client, fan, author)
    await acted(client, fan, post_id, "favourite")

    unfollow = await client.post(f"/api/v1/accounts/{author.id}/unfollow", headers=fan.auth)
    assert unfollow.status_code == 200

    assert ids(await listed(client, FAVOURITES, fan)) == []
    assert (await act(client, fan, post_id, "unfavourite")).status_code == 404
    assert await favourites_count(client, author, post_id) == 1


@pytest.mark.parametrize("status_id", ["123456789", "abc", "99999999999999999999"])
async def test_unknown_posts_are_not_found(
    client: httpx.AsyncClient, make_user: MakeUser, status_id: str
) -> None:
    fan = await make_user("fan")
    assert (await act(client, fan, status_id, "favourite")).status_code == 404
    response = await client.get(f"{STATUSES}/{status_id}/favourited_by")
    assert response.status_code == 404


async def test_likes_need_a_user_token_with_the_favourites_scopes(
    client: httpx.AsyncClient, make_user: MakeUser, oauth_client: OAuthClient
) -> None:
    author, fan = await make_user("author"), await make_user("fan")
    post = await publish(client, author)
    app = await register_app(client, scopes="read write:favourites")
    reader = bearer((await login(client, app, fan, "read"))["access_token"])
    writer = bearer((await login(client, app, fan, "write:favourites"))["access_token"])
    url = f"{STATUSES}/{post['id']}/favourite"

    assert (await client.post(url)).status_code == 401
    assert (await client.post(url, headers=reader)).status_code == 403
    app_only = await client.post(url, headers=bearer(oauth_client.app_token))
    assert app_only.status_code == 422
    assert app_only.json() == {"error": "This method requires an authenticated user"}
    assert (await client.get(FAVOURITES)).status_code == 401
    assert (await client.get(FAVOURITES, headers=writer)).status_code == 403
    assert (
        await client.get(f"{STATUSES}/{post['id']}/favourited_by", headers=writer)
    ).status_code == 403
    assert await favourites_count(client, author, post["id"]) == 0

    assert (await client.post(url, headers=writer)).status_code == 200
    assert (await client.get(FAVOURITES, headers=reader)).status_code == 200
    assert await favourites_count(client, author, post["id"]) == 1
