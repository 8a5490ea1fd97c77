"""Reading notifications: filters, pages, one by one, dismissing, clearing, the unread
count and read markers."""

from __future__ import annotations

import re

import httpx

from tests.accounts.helpers import login, register_app
from tests.conftest import MakeUser, OAuthClient, User
from tests.feed.helpers import follow
from tests.notifications.helpers import (
    NOTIFICATIONS,
    causes,
    like,
    listing,
    notifications,
    post,
    reply,
)

MARKERS = "/api/v1/markers"


async def _busy_author(client: httpx.AsyncClient, make_user: MakeUser) -> tuple[User, User, str]:
    """An author with, oldest first: a follow, a like and a comment from `fan`, then a
    like from someone else. Returns (author, fan, status id)."""
    author = await make_user("busy")
    fan = await make_user("fan")
    other = await make_user("other")
    status_id = await post(client, author, "Look")
    await follow(client, fan, author)
    await like(client, fan, status_id)
    await reply(client, fan, status_id)
    await like(client, other, status_id)
    return author, fan, status_id


async def test_types_exclusions_and_the_causing_account_filter_the_list(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan, _ = await _busy_author(client, make_user)

    every = [n["type"] for n in await notifications(client, author)]
    assert every == ["favourite", "mention", "favourite", "follow"]
    liked = await notifications(client, author, **{"types[]": ["favourite", "poll"]})
    assert [n["type"] for n in liked] == ["favourite", "favourite"]
    rest = await notifications(client, author, **{"exclude_types[]": ["favourite", "mention"]})
    assert [n["type"] for n in rest] == ["follow"]
    theirs = await notifications(client, author, account_id=fan.id)
    assert [n["type"] for n in theirs] == ["mention", "favourite", "follow"]
    assert await notifications(client, author, **{"types[]": "reblog"}) == []

    response = await listing(client, author, account_id="someone")
    assert response.status_code == 422
    assert "error" in response.json()


async def test_pages_follow_the_link_header(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author, _, _ = await _busy_author(client, make_user)
    every = await notifications(client, author)

    first = await listing(client, author, limit=3)
    assert [n["id"] for n in first.json()] == [n["id"] for n in every[:3]]
    next_url = re.search(r'<([^>]+)>; rel="next"', first.headers["Link"])
    assert next_url is not None
    second = await client.get(next_url.group(1), headers=author.auth)
    assert [n["id"] for n in second.json()] == [every[3]["id"]]
    assert 'rel="next"' not in second.headers["Link"]

    newer = await listing(client, author, min_id=every[2]["id"], limit=1)
    assert [n["id"] for n in newer.json()] == [every[1]["id"]]
    since = await listing(client, author, since_id=every[2]["id"], limit=1)
    assert [n["id"] for n in since.json()] == [every[0]["id"]]


async def test_one_notification_is_read_dismissed_or_cleared_only_by_its_owner(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan, _ = await _busy_author(client, make_user)
    newest, *older = await notifications(client, author)
    path = f"{NOTIFICATIONS}/{newest['id']}"

    mine = await client.get(path, headers=author.auth)
    assert mine.status_code == 200
    assert mine.json() == newest
    for response in (
        await client.get(path, headers=fan.auth),
        await client.post(f"{path}/dismiss", headers=fan.auth),
        await client.get(f"{NOTIFICATIONS}/12x", headers=author.auth),
        await client.post(f"{NOTIFICATIONS}/99999999999999999999/dismiss", headers=author.auth),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "Record not found"}

    dismissed = await client.post(f"{path}/dismiss", headers=author.auth)
    assert (dismissed.status_code, dismissed.json()) == (200, {})
    assert [n["id"] for n in await notifications(client, author)] == [n["id"] for n in older]
    assert (await client.get(path, headers=author.auth)).status_code == 404

    cleared = await client.post(f"{NOTIFICATIONS}/clear", headers=fan.auth)
    assert (cleared.status_code, cleared.json()) == (200, {})
    assert len(await notifications(client, author)) == len(older)  # only the caller's go
    await client.post(f"{NOTIFICATIONS}/clear", headers=author.auth)
    assert await notifications(client, author) == []


async def test_notifications_need_a_user_token_with_their_scopes(
    client: httpx.AsyncClient, make_user: MakeUser, oauth_client: OAuthClient
) -> None:
    user = await make_user("scoped")
    app = await register_app(client, scopes="read:statuses")
    reader = (await login(client, app, user, "read:statuses"))["access_token"]

    assert (await client.get(NOTIFICATIONS)).status_code == 401
    refused = await client.get(NOTIFICATIONS, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403
    assert refused.json() == {"error": "This action is outside the authorized scopes"}
    cleared = await client.post(
        f"{NOTIFICATIONS}/clear", headers={"Authorization": f"Bearer {oauth_client.app_token}"}
    )
    assert cleared.status_code in {403, 422}


async def test_a_notification_about_a_post_the_reader_can_no_longer_see_is_left_out(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("hidden")
    friend = await make_user("friend")
    await follow(client, friend, author)
    status_id = await post(client, author, f"@{friend.username}", visibility="private")
    assert causes(await notifications(client, friend)) == [("mention", author.id, status_id)]

    response = await client.post(f"/api/v1/accounts/{author.id}/unfollow", headers=friend.auth)
    assert response.status_code == 200

    assert await notifications(client, friend) == []


async def test_markers_save_positions_and_count_versions(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("marker")
    none = await client.get(MARKERS, headers=user.auth, params={"timeline[]": ["home"]})
    assert (none.status_code, none.json()) == (200, {})

    form = await client.post(MARKERS, headers=user.auth, data={"home[last_read_id]": "100"})
    assert form.status_code == 200, form.text
    assert form.json()["home"]["last_read_id"] == "100"
    assert form.json()["home"]["version"] == 1
    as_json = await client.post(
        MARKERS,
        headers=user.auth,
        json={"home": {"last_read_id": "150"}, "notifications": {"last_read_id": "7"}},
    )
    assert as_json.status_code == 200, as_json.text
    assert {k: (v["last_read_id"], v["version"]) for k, v in as_json.json().items()} == {
        "home": ("150", 2),
        "notifications": ("7", 1),
    }

    both = await client.get(
        MARKERS, headers=user.auth, params={"timeline[]": ["home", "notifications", "lists"]}
    )
    assert both.json() == as_json.json()
    assert set((await client.get(MARKERS, headers=user.auth)).json()) == set()

    broken = await client.post(MARKERS, headers=user.auth, data={"home[last_read_id]": "top"})
    assert broken.status_code == 422
    assert broken.json()["error"].startswith("Validation failed")
    assert (await client.get(MARKERS)).status_code == 401


async def test_the_unread_count_is_what_lies_above_the_notifications_marker(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan, status_id = await _busy_author(client, make_user)
    unread = f"{NOTIFICATIONS}/unread_count"

    async def count(**params: str) -> int:
        response = await client.get(unread, headers=author.auth, params=params)
        assert response.status_code == 200, response.text
        value: int = response.json()["count"]
        return value

    assert await count() == 4
    assert await count(limit="2") == 2
    assert await count(**{"types[]": "favourite"}) == 2
    newest = (await notifications(client, author))[0]["id"]
    saved = await client.post(
        MARKERS, headers=author.auth, json={"notifications": {"last_read_id": newest}}
    )
    assert saved.status_code == 200
    assert await count() == 0

    await reply(client, fan, status_id, "Again")
    assert await count() == 1
