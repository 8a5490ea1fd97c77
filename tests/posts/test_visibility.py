"""Who sees which post: public, unlisted, private, locked accounts; invisible is a 404."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import MakeUser, User
from tests.posts.helpers import STATUSES, publish

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Cast:
    author: User
    follower: User
    stranger: User
    posts: dict[str, str]
    """visibility -> status id"""


async def _follow(client: httpx.AsyncClient, actor: User, target: User) -> None:
    response = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=actor.auth)
    assert response.status_code == 200, response.text


async def _cast(client: httpx.AsyncClient, make_user: MakeUser, *, locked: bool) -> Cast:
    author = await make_user("author")
    follower = await make_user("follower")
    stranger = await make_user("stranger")
    await _follow(client, follower, author)
    if locked:
        lock = await client.patch(
            "/api/v1/accounts/update_credentials", headers=author.auth, data={"locked": "1"}
        )
        assert lock.status_code == 200
        await _follow(client, stranger, author)  # only a pending request
    posts = {
        visibility: (await publish(client, author, visibility, visibility=visibility))["id"]
        for visibility in ("public", "unlisted", "private")
    }
    return Cast(author, follower, stranger, posts)


async def _sees(client: httpx.AsyncClient, viewer: User | None, cast: Cast) -> set[str]:
    """The visibilities of the author's posts the viewer can fetch, checked three ways
    (status, profile grid, comment) that must agree."""
    headers = viewer.auth if viewer else {}
    direct = set()
    for visibility, status_id in cast.posts.items():
        response = await client.get(f"{STATUSES}/{status_id}", headers=headers)
        assert response.status_code in (200, 404), response.text
        if response.status_code == 200:
            direct.add(visibility)
        else:
            assert response.json() == {"error": "Record not found"}
        if viewer is not None:
            reply = await client.post(
                STATUSES,
                headers=viewer.auth,
                data={"status": "hi", "in_reply_to_id": status_id},
            )
            assert reply.status_code == (200 if response.status_code == 200 else 404)
    grid = await client.get(f"/api/v1/accounts/{cast.author.id}/statuses", headers=headers)
    assert grid.status_code == 200
    listed = {s["visibility"] for s in grid.json() if s["in_reply_to_id"] is None}
    assert listed == direct
    return direct


ALL = {"public", "unlisted", "private"}
OPEN = {"public", "unlisted"}


async def test_unlocked_account(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    cast = await _cast(client, make_user, locked=False)

    assert await _sees(client, cast.author, cast) == ALL
    assert await _sees(client, cast.follower, cast) == ALL
    assert await _sees(client, cast.stranger, cast) == OPEN
    assert await _sees(client, None, cast) == OPEN


async def test_locked_account(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    cast = await _cast(client, make_user, locked=True)

    assert await _sees(client, cast.author, cast) == ALL
    assert await _sees(client, cast.follower, cast) == ALL  # followed before the lock
    assert await _sees(client, cast.stranger, cast) == set()  # request still pending
    assert await _sees(client, None, cast) == set()

    authorize = await client.post(
        f"/api/v1/follow_requests/{cast.stranger.id}/authorize", headers=cast.author.auth
    )
    assert authorize.status_code == 200
    assert await _sees(client, cast.stranger, cast) == ALL


async def test_unfollowing_hides_private_posts_again(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    cast = await _cast(client, make_user, locked=False)
    response = await client.post(
        f"/api/v1/accounts/{cast.author.id}/unfollow", headers=cast.follower.auth
    )
    assert response.status_code == 200

    assert await _sees(client, cast.follower, cast) == OPEN


async def test_a_comment_on_a_private_post_is_hidden_like_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    cast = await _cast(client, make_user, locked=False)
    reply = await client.post(
        STATUSES,
        headers=cast.follower.auth,
        data={"status": "secret", "in_reply_to_id": cast.posts["private"], "visibility": "private"},
    )
    assert reply.status_code == 200

    hidden = await client.get(f"{STATUSES}/{reply.json()['id']}", headers=cast.stranger.auth)
    assert hidden.status_code == 404
    shown = await client.get(f"{STATUSES}/{reply.json()['id']}", headers=cast.follower.auth)
    assert shown.status_code == 200


async def test_reading_with_a_token_needs_read_statuses(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    cast = await _cast(client, make_user, locked=False)
    app = (
        await client.post(
            "/api/v1/apps",
            data={
                "client_name": "narrow",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": "write:statuses",
            },
        )
    ).json()
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": cast.stranger.username,
            "password": cast.stranger.password,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "write:statuses",
        },
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    response = await client.get(f"{STATUSES}/{cast.posts['public']}", headers=headers)

    assert response.status_code == 403
