"""Comments: who may delete them, counts, refusals, and where they (do not) appear."""

from __future__ import annotations

import httpx

from tests.conftest import MakeUser, User
from tests.feed.helpers import HOME, delete_status, follow, settle, timeline
from tests.posts.helpers import STATUSES, account, comment, event_count, publish


async def _replies_count(client: httpx.AsyncClient, status_id: str) -> int:
    response = await client.get(f"{STATUSES}/{status_id}")
    assert response.status_code == 200, response.text
    count: int = response.json()["replies_count"]
    return count


async def _refused_delete(client: httpx.AsyncClient, user: User, status_id: str) -> None:
    events = await event_count(client)
    response = await client.delete(f"{STATUSES}/{status_id}", headers=user.auth)
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}
    assert (await client.get(f"{STATUSES}/{status_id}")).status_code == 200
    assert await event_count(client) == events


async def test_the_post_author_may_delete_any_comment_under_the_post(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, ann, bob = await make_user("owner"), await make_user("ann"), await make_user("bob")
    post = (await publish(client, owner, "My photo"))["id"]
    rude = (await comment(client, ann, post, "rude"))["id"]
    ruder = (await comment(client, bob, rude, "ruder"))["id"]
    statuses = (await account(client, bob.id))["statuses_count"]

    response = await client.delete(f"{STATUSES}/{ruder}", headers=owner.auth)

    assert response.status_code == 200, response.text
    assert response.json()["text"] == "ruder"
    assert (await client.get(f"{STATUSES}/{ruder}")).status_code == 404
    assert await _replies_count(client, rude) == 0
    assert (await account(client, bob.id))["statuses_count"] == statuses - 1
    deleted = await client.delete(f"{STATUSES}/{rude}", headers=owner.auth)
    assert deleted.status_code == 200
    assert await _replies_count(client, post) == 0


async def test_no_one_else_may_delete_a_comment(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, ann, bob = await make_user("owner"), await make_user("ann"), await make_user("bob")
    stranger = await make_user("stranger")
    post = (await publish(client, owner))["id"]
    first = (await comment(client, ann, post, "first"))["id"]
    answer = (await comment(client, bob, first, "answer"))["id"]
    elsewhere = (await publish(client, stranger))["id"]

    await _refused_delete(client, stranger, first)
    await _refused_delete(client, ann, answer)  # a comment's author: not the post's
    await _refused_delete(client, owner, elsewhere)  # owning one post gives no right on others
    assert await _replies_count(client, post) == 1
    assert await _replies_count(client, first) == 1
    assert (await client.delete(f"{STATUSES}/{answer}", headers=bob.auth)).status_code == 200


async def test_comments_on_a_deleted_post_stay_the_commenters(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, ann = await make_user("owner"), await make_user("ann")
    post = (await publish(client, owner))["id"]
    note = (await comment(client, ann, post))["id"]

    await delete_status(client, owner, post)

    await _refused_delete(client, owner, note)
    assert (await client.delete(f"{STATUSES}/{note}", headers=ann.auth)).status_code == 200


async def test_commenting_on_a_deleted_post_is_not_found(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, ann = await make_user("owner"), await make_user("ann")
    post = (await publish(client, owner))["id"]
    await delete_status(client, owner, post)
    statuses = (await account(client, ann.id))["statuses_count"]

    response = await client.post(
        STATUSES, headers=ann.auth, data={"status": "late", "in_reply_to_id": post}
    )

    assert response.status_code == 404
    assert (await account(client, ann.id))["statuses_count"] == statuses


async def test_a_comment_over_2200_characters_is_refused_and_counts_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, ann = await make_user("owner"), await make_user("ann")
    post = (await publish(client, owner))["id"]

    for text in ("x" * 2201, ""):
        response = await client.post(
            STATUSES, headers=ann.auth, data={"status": text, "in_reply_to_id": post}
        )
        assert response.status_code == 422
        assert "status" in response.json()["details"]
    assert await _replies_count(client, post) == 0
    assert (await comment(client, ann, post, "x" * 2200))["in_reply_to_id"] == post


async def test_comments_never_enter_home_feeds(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, ann, reader = await make_user("owner"), await make_user("ann"), await make_user()
    await follow(client, reader, ann)
    await follow(client, reader, owner)
    post = (await publish(client, owner))["id"]
    note = (await comment(client, ann, post, "hello"))["id"]
    await settle(client)

    home = [s["id"] for s in (await timeline(client, HOME, reader, limit=40)).json()]
    assert post in home
    assert note not in home
    own = [s["id"] for s in (await timeline(client, HOME, ann, limit=40)).json()]
    assert note not in own
