"""Accounts seen by others, and the follow graph: follows, requests, lists, relationships."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tessera.accounts.models import Follow, FollowRequest
from tests.accounts.helpers import bearer, login, runtime_of
from tests.conftest import MakeUser, OAuthClient, User

UPDATE = "/api/v1/accounts/update_credentials"
BASE = "http://tessera.test"


async def edge_ids(
    client: httpx.AsyncClient, model: type[Follow] | type[FollowRequest], target: str
) -> list[int]:
    """Ids of the follow (or request) rows pointing at `target`, newest first: the cursors
    that the Link header must carry."""
    async with runtime_of(client).sessions() as session:
        rows = await session.scalars(
            select(model.id).where(model.target_account_id == int(target)).order_by(model.id.desc())
        )
        return list(rows)


async def account(client: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/accounts/{account_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def counts(client: httpx.AsyncClient, user: User) -> tuple[int, int]:
    """(followers_count, following_count) as anyone sees them."""
    body = await account(client, user.id)
    return body["followers_count"], body["following_count"]


async def me(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.get("/api/v1/accounts/verify_credentials", headers=user.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def post(client: httpx.AsyncClient, user: User, path: str) -> dict[str, Any]:
    response = await client.post(path, headers=user.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def follow(client: httpx.AsyncClient, actor: User, target: User) -> dict[str, Any]:
    return await post(client, actor, f"/api/v1/accounts/{target.id}/follow")


async def relationship(client: httpx.AsyncClient, viewer: User, other: User) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/accounts/relationships", headers=viewer.auth, params={"id": other.id}
    )
    assert response.status_code == 200, response.text
    [rel] = response.json()
    assert rel["id"] == other.id
    body: dict[str, Any] = rel
    return body


async def list_ids(
    client: httpx.AsyncClient, path: str, user: User | None = None, **params: Any
) -> list[str]:
    response = await client.get(path, params=params, headers=user.auth if user else None)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


RELATIONSHIP_FLAGS = (
    "following",
    "showing_reblogs",
    "notifying",
    "followed_by",
    "blocking",
    "blocked_by",
    "muting",
    "muting_notifications",
    "requested",
    "requested_by",
    "domain_blocking",
    "endorsed",
)


# -- looking accounts up ---------------------------------------------------------------------


async def test_an_account_is_public(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("public")
    body = await account(client, user.id)
    assert body["id"] == user.id
    assert body["username"] == user.username
    assert body["acct"] == user.username
    assert "source" not in body
    assert "role" not in body
    assert "email" not in body


@pytest.mark.parametrize(
    "raw", ["abc", "99999999999999999999", "9223372036854775808", "-1", "1e3", "0"]
)
async def test_an_unknown_account_is_404_json(client: httpx.AsyncClient, raw: str) -> None:
    response = await client.get(f"/api/v1/accounts/{raw}")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}


async def test_lookup_by_acct(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("lookup")
    for acct in (
        user.username,
        f"@{user.username}",
        user.username.upper(),
        f"{user.username}@tessera.test",
        f"@{user.username}@TESSERA.test",
    ):
        response = await client.get("/api/v1/accounts/lookup", params={"acct": acct})
        assert response.status_code == 200, (acct, response.text)
        assert response.json()["id"] == user.id

    for acct in (f"{user.username}@elsewhere.example", "nobody_here_at_all"):
        response = await client.get("/api/v1/accounts/lookup", params={"acct": acct})
        assert response.status_code == 404, acct
        assert response.json() == {"error": "Record not found"}

    missing = await client.get("/api/v1/accounts/lookup")
    assert missing.status_code == 422


async def test_search_by_prefix_and_display_name(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    stem = "s" + secrets.token_hex(3)
    first, second = await make_user(stem), await make_user(stem)
    other = await make_user("unrelated")
    named = await client.patch(
        UPDATE, headers=other.auth, data={"display_name": f"{stem.upper()} Fan"}
    )
    assert named.status_code == 200

    unauthenticated = await client.get("/api/v1/accounts/search", params={"q": stem})
    assert unauthenticated.status_code == 401

    found = await list_ids(
        client,
        "/api/v1/accounts/search",
        first,
        q=stem,
        following="0",
        resolve="0",
    )
    assert set(found) == {first.id, second.id, other.id}

    exact = await list_ids(client, "/api/v1/accounts/search", first, q=second.username)
    assert exact == [second.id]

    at_local = await list_ids(
        client, "/api/v1/accounts/search", first, q=f"@{second.username}@tessera.test"
    )
    assert at_local == [second.id]

    remote = await list_ids(
        client, "/api/v1/accounts/search", first, q=f"{second.username}@elsewhere.example"
    )
    assert remote == []

    limited = await list_ids(client, "/api/v1/accounts/search", first, q=stem, limit=2)
    rest = await list_ids(client, "/api/v1/accounts/search", first, q=stem, limit=2, offset=2)
    assert len(limited) == 2
    assert set(limited) | set(rest) == set(found)
    assert not set(limited) & set(rest)

    await follow(client, first, other)
    followed = await list_ids(client, "/api/v1/accounts/search", first, q=stem, following="1")
    assert followed == [other.id]


async def test_search_treats_wildcards_literally(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("wild")
    assert await list_ids(client, "/api/v1/accounts/search", user, q="%") == []
    underscore = await list_ids(client, "/api/v1/accounts/search", user, q="_")
    assert user.id not in underscore


# -- following ---------------------------------------------------------------------------------


async def test_follow_unfollow_and_counters(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")

    rel = await follow(client, alice, bob)
    assert rel["id"] == bob.id
    assert rel["following"] is True
    assert rel["requested"] is False
    assert rel["showing_reblogs"] is True
    assert rel["notifying"] is False
    for flag in RELATIONSHIP_FLAGS:
        assert isinstance(rel[flag], bool), flag
    assert rel["note"] == ""
    assert await counts(client, alice) == (0, 1)
    assert await counts(client, bob) == (1, 0)

    again = await follow(client, alice, bob)
    assert again["following"] is True
    assert await counts(client, alice) == (0, 1), "a repeated follow counts once"
    assert await counts(client, bob) == (1, 0)

    seen_by_bob = await relationship(client, bob, alice)
    assert seen_by_bob["followed_by"] is True
    assert seen_by_bob["following"] is False

    assert (await me(client, alice))["following_count"] == 1
    assert (await me(client, bob))["followers_count"] == 1

    gone = await post(client, alice, f"/api/v1/accounts/{bob.id}/unfollow")
    assert gone["following"] is False
    assert await counts(client, alice) == (0, 0)
    assert await counts(client, bob) == (0, 0)
    twice = await post(client, alice, f"/api/v1/accounts/{bob.id}/unfollow")
    assert twice["following"] is False
    assert await counts(client, bob) == (0, 0), "unfollowing twice never goes negative"
    assert (await relationship(client, bob, alice))["followed_by"] is False


async def test_follow_options_are_kept_and_can_change(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    alice, bob = await make_user("opt_a"), await make_user("opt_b")
    response = await client.post(
        f"/api/v1/accounts/{bob.id}/follow",
        headers=alice.auth,
        data={"reblogs": "0", "notify": "1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["showing_reblogs"] is False
    assert response.json()["notifying"] is True
    changed = await client.post(
        f"/api/v1/accounts/{bob.id}/follow",
        headers=alice.auth,
        json={"reblogs": True, "notify": False},
    )
    assert changed.status_code == 200, changed.text
    rel = await relationship(client, alice, bob)
    assert rel["showing_reblogs"] is True
    assert rel["notifying"] is False
    assert await counts(client, bob) == (1, 0)


async def test_follow_with_the_body_mastodon_py_sends_and_with_none(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    alice, bob, carol = await make_user("mpy_a"), await make_user("mpy_b"), await make_user("c")
    form = await client.post(
        f"/api/v1/accounts/{bob.id}/follow",
        headers={**alice.auth, "Content-Type": "application/x-www-form-urlencoded"},
        content=b"reblogs=1&notify=0",
    )
    assert form.status_code == 200, form.text
    assert form.json()["following"] is True

    bare = await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.auth)
    assert bare.status_code == 200, bare.text
    assert bare.request.headers.get("content-type") is None
    assert bare.json()["following"] is True
    assert bare.json()["showing_reblogs"] is True
    assert await counts(client, alice) == (0, 2)


async def test_remove_from_followers(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    fan, star = await make_user("fan"), await make_user("star")
    await follow(client, fan, star)
    rel = await post(client, star, f"/api/v1/accounts/{fan.id}/remove_from_followers")
    assert rel["id"] == fan.id
    assert rel["followed_by"] is False
    assert await counts(client, star) == (0, 0)
    assert await counts(client, fan) == (0, 0)
    assert (await relationship(client, fan, star))["following"] is False
    assert await list_ids(client, f"/api/v1/accounts/{star.id}/followers") == []


async def test_following_yourself_is_forbidden(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("self")
    response = await client.post(f"/api/v1/accounts/{user.id}/follow", headers=user.auth)
    assert response.status_code == 403
    assert "error" in response.json()
    assert await counts(client, user) == (0, 0)


@pytest.mark.parametrize("action", ["follow", "unfollow", "remove_from_followers"])
async def test_following_an_unknown_account_is_404(
    client: httpx.AsyncClient, make_user: MakeUser, action: str
) -> None:
    user = await make_user("ghost")
    for raw in ("1", "abc", "99999999999999999999"):
        response = await client.post(f"/api/v1/accounts/{raw}/{action}", headers=user.auth)
        assert response.status_code == 404, raw
        assert response.json() == {"error": "Record not found"}
    assert await counts(client, user) == (0, 0)


async def test_following_needs_a_token_with_write_follows(
    client: httpx.AsyncClient, make_user: MakeUser, oauth_client: OAuthClient
) -> None:
    user, target = await make_user("reader"), await make_user("target")
    anonymous = await client.post(f"/api/v1/accounts/{target.id}/follow")
    assert anonymous.status_code == 401

    token = await login(client, oauth_client, user, "read")
    assert token["scope"] == "read"
    reader = bearer(token["access_token"])
    response = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=reader)
    assert response.status_code == 403
    assert response.json() == {"error": "This action is outside the authorized scopes"}
    assert await counts(client, target) == (0, 0)
    # Reading is still allowed.
    rels = await client.get(
        "/api/v1/accounts/relationships", headers=reader, params={"id": target.id}
    )
    assert rels.status_code == 200

    app_token = {"Authorization": f"Bearer {oauth_client.app_token}"}
    as_app = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=app_token)
    assert as_app.status_code == 422


async def test_relationships_single_and_many_in_order(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    viewer = await make_user("viewer")
    a, b, c = await make_user("ra"), await make_user("rb"), await make_user("rc")
    await follow(client, viewer, b)
    await follow(client, c, viewer)

    single = await client.get(
        "/api/v1/accounts/relationships", headers=viewer.auth, params={"id": b.id}
    )
    assert single.status_code == 200
    assert [(r["id"], r["following"]) for r in single.json()] == [(b.id, True)]

    many = await client.get(
        f"/api/v1/accounts/relationships?id[]={c.id}&id[]={a.id}&id[]={b.id}",
        headers=viewer.auth,
    )
    assert many.status_code == 200
    rows = many.json()
    assert [r["id"] for r in rows] == [c.id, a.id, b.id]
    assert [r["following"] for r in rows] == [False, False, True]
    assert [r["followed_by"] for r in rows] == [True, False, False]

    unknown = await client.get(
        f"/api/v1/accounts/relationships?id[]=abc&id[]={a.id}&id[]=1", headers=viewer.auth
    )
    assert unknown.status_code == 200
    assert [r["id"] for r in unknown.json()] == [a.id]

    none = await client.get("/api/v1/accounts/relationships", headers=viewer.auth)
    assert none.status_code == 200
    assert none.json() == []

    anonymous = await client.get("/api/v1/accounts/relationships", params={"id": a.id})
    assert anonymous.status_code == 401


# -- lists and their Link header ------------------------------------------------------------


async def test_followers_pages_follow_the_link_header(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    star = await make_user("paged")
    fans = [await make_user("pfan") for _ in range(3)]
    for fan in fans:
        await follow(client, fan, star)
    cursors = await edge_ids(client, Follow, star.id)
    assert len(cursors) == 3

    path = f"/api/v1/accounts/{star.id}/followers"
    first = await client.get(path, params={"limit": 2})
    assert first.status_code == 200
    assert [row["id"] for row in first.json()] == [fans[2].id, fans[1].id]
    assert first.headers["link"] == (
        f'<{BASE}{path}?limit=2&max_id={cursors[1]}>; rel="next", '
        f'<{BASE}{path}?limit=2&since_id={cursors[0]}>; rel="prev"'
    )
    assert str(cursors[1]) != fans[1].id, "the cursor is the follow row, not the account"

    next_url = first.links["next"]["url"]
    second = await client.get(next_url)
    assert second.status_code == 200
    assert [row["id"] for row in second.json()] == [fans[0].id]
    assert second.headers["link"] == f'<{BASE}{path}?limit=2&since_id={cursors[2]}>; rel="prev"'

    newer = await client.get(first.links["prev"]["url"])
    assert newer.status_code == 200
    assert newer.json() == []
    assert "link" not in newer.headers

    since = await client.get(path, params={"since_id": cursors[2]})
    assert [row["id"] for row in since.json()] == [fans[2].id, fans[1].id]
    min_page = await client.get(path, params={"min_id": cursors[2], "limit": 1})
    assert [row["id"] for row in min_page.json()] == [fans[1].id]

    assert (await account(client, star.id))["followers_count"] == 3


async def test_following_list_is_newest_first(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    fan = await make_user("lister")
    stars = [await make_user("lstar") for _ in range(3)]
    for star in stars:
        await follow(client, fan, star)
    path = f"/api/v1/accounts/{fan.id}/following"
    assert await list_ids(client, path) == [s.id for s in reversed(stars)]

    page = await client.get(path, params={"limit": 2})
    assert [row["id"] for row in page.json()] == [stars[2].id, stars[1].id]
    assert 'rel="next"' in page.headers["link"]
    assert 'rel="prev"' in page.headers["link"]
    rest = await client.get(page.links["next"]["url"])
    assert [row["id"] for row in rest.json()] == [stars[0].id]
    assert 'rel="next"' not in rest.headers["link"]

    await post(client, fan, f"/api/v1/accounts/{stars[1].id}/unfollow")
    assert await list_ids(client, path) == [stars[2].id, stars[0].id]


async def test_lists_of_an_unknown_account_are_404(client: httpx.AsyncClient) -> None:
    for kind in ("followers", "following"):
        response = await client.get(f"/api/v1/accounts/99999999999999999999/{kind}")
        assert response.status_code == 404
        assert response.json() == {"error": "Record not found"}
        response = await client.get(f"/api/v1/accounts/12345/{kind}")
        assert response.status_code == 404


async def test_an_empty_list_has_no_link_header(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    loner = await make_user("loner")
    response = await client.get(f"/api/v1/accounts/{loner.id}/followers")
    assert response.status_code == 200
    assert response.json() == []
    assert "link" not in response.headers


# -- locked accounts and follow requests ----------------------------------------------------


async def test_follow_request_to_a_locked_account_then_authorize(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("locked", locked=True)
    asker = await make_user("asker")

    rel = await follow(client, asker, owner)
    assert rel["requested"] is True
    assert rel["following"] is False
    assert await counts(client, owner) == (0, 0)
    assert await counts(client, asker) == (0, 0)

    repeat = await follow(client, asker, owner)
    assert repeat["requested"] is True
    assert (await me(client, owner))["source"]["follow_requests_count"] == 1

    requests = await client.get("/api/v1/follow_requests", headers=owner.auth)
    assert requests.status_code == 200
    assert [row["id"] for row in requests.json()] == [asker.id]
    [request_row] = await edge_ids(client, FollowRequest, owner.id)
    assert requests.headers["link"] == (
        f'<{BASE}/api/v1/follow_requests?since_id={request_row}>; rel="prev"'
    )
    assert (await relationship(client, owner, asker))["requested_by"] is True

    accepted = await post(client, owner, f"/api/v1/follow_requests/{asker.id}/authorize")
    assert accepted["id"] == asker.id
    assert accepted["followed_by"] is True
    assert accepted["requested_by"] is False

    mine = await relationship(client, asker, owner)
    assert mine["following"] is True
    assert mine["requested"] is False
    assert await counts(client, owner) == (1, 0)
    assert await counts(client, asker) == (0, 1)
    assert (await me(client, owner))["source"]["follow_requests_count"] == 0
    assert await list_ids(client, "/api/v1/follow_requests", owner) == []
    assert await list_ids(client, f"/api/v1/accounts/{owner.id}/followers") == [asker.id]

    again = await client.post(f"/api/v1/follow_requests/{asker.id}/authorize", headers=owner.auth)
    assert again.status_code == 404
    assert await counts(client, owner) == (1, 0)


async def test_reject_a_follow_request(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    owner = await make_user("rejecter", locked=True)
    asker = await make_user("rejected")
    await follow(client, asker, owner)

    rel = await post(client, owner, f"/api/v1/follow_requests/{asker.id}/reject")
    assert rel["followed_by"] is False
    assert rel["requested_by"] is False

    mine = await relationship(client, asker, owner)
    assert mine["requested"] is False
    assert mine["following"] is False
    assert await counts(client, owner) == (0, 0)
    assert (await me(client, owner))["source"]["follow_requests_count"] == 0
    assert await list_ids(client, "/api/v1/follow_requests", owner) == []


async def test_unfollow_withdraws_a_pending_request(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("withdraw", locked=True)
    asker = await make_user("shy")
    await follow(client, asker, owner)
    rel = await post(client, asker, f"/api/v1/accounts/{owner.id}/unfollow")
    assert rel["requested"] is False
    assert rel["following"] is False
    assert (await me(client, owner))["source"]["follow_requests_count"] == 0
    assert await list_ids(client, "/api/v1/follow_requests", owner) == []
    missing = await client.post(f"/api/v1/follow_requests/{asker.id}/authorize", headers=owner.auth)
    assert missing.status_code == 404


async def test_answering_a_request_that_does_not_exist_is_404(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("nobody_asked", locked=True)
    stranger = await make_user("stranger")
    for action in ("authorize", "reject"):
        for raw in (stranger.id, "1", "abc"):
            response = await client.post(
                f"/api/v1/follow_requests/{raw}/{action}", headers=owner.auth
            )
            assert response.status_code == 404, (action, raw)
            assert response.json() == {"error": "Record not found"}
    assert (await relationship(client, stranger, owner))["following"] is False


async def test_nobody_else_can_answer_your_requests(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("owner", locked=True)
    asker, meddler = await make_user("asker2"), await make_user("meddler")
    await follow(client, asker, owner)

    for action in ("authorize", "reject"):
        response = await client.post(
            f"/api/v1/follow_requests/{asker.id}/{action}", headers=meddler.auth
        )
        assert response.status_code == 404
    assert await list_ids(client, "/api/v1/follow_requests", meddler) == []
    assert (await relationship(client, asker, owner))["requested"] is True
    assert await list_ids(client, "/api/v1/follow_requests", owner) == [asker.id]
    assert (await me(client, owner))["source"]["follow_requests_count"] == 1


async def test_unlocking_accepts_pending_requests(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("unlocker", locked=True)
    first, second = await make_user("early1"), await make_user("early2")
    await follow(client, first, owner)
    await follow(client, second, owner)
    assert (await me(client, owner))["source"]["follow_requests_count"] == 2

    response = await client.patch(UPDATE, headers=owner.auth, data={"locked": "0"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["locked"] is False
    assert body["followers_count"] == 2
    assert body["source"]["follow_requests_count"] == 0

    for asker in (first, second):
        rel = await relationship(client, asker, owner)
        assert rel["following"] is True
        assert rel["requested"] is False
        assert await counts(client, asker) == (0, 1)
    assert await counts(client, owner) == (2, 0)
    assert await list_ids(client, "/api/v1/follow_requests", owner) == []
    assert set(await list_ids(client, f"/api/v1/accounts/{owner.id}/followers")) == {
        first.id,
        second.id,
    }

    newcomer = await make_user("late")
    assert (await follow(client, newcomer, owner))["following"] is True


async def test_locking_keeps_existing_followers(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, old_fan = await make_user("locker"), await make_user("oldfan")
    await follow(client, old_fan, owner)
    response = await client.patch(UPDATE, headers=owner.auth, data={"locked": "true"})
    assert response.status_code == 200
    assert (await relationship(client, old_fan, owner))["following"] is True
    assert (await follow(client, old_fan, owner))["following"] is True
    assert await counts(client, owner) == (1, 0)
    assert await list_ids(client, "/api/v1/follow_requests", owner) == []


async def test_follow_requests_need_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/follow_requests")
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}


async def test_ids_and_cursors_beyond_64_bits_are_not_errors(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    star, fan = await make_user("bigids"), await make_user("bigfan")
    await follow(client, fan, star)
    huge = "9999999999999999999"  # 19 digits, yet more than a signed 64-bit column holds
    rels = await client.get(
        f"/api/v1/accounts/relationships?id[]={huge}&id[]={star.id}", headers=fan.auth
    )
    assert rels.status_code == 200
    assert [r["id"] for r in rels.json()] == [star.id]

    path = f"/api/v1/accounts/{star.id}/followers"
    assert await list_ids(client, path, max_id="99999999999999999999") == [fan.id]
    assert await list_ids(client, path, max_id=huge) == [fan.id]
    assert await list_ids(client, path, since_id=huge) == []
    assert await list_ids(client, path, min_id="99999999999999999999") == []
    requests = await client.get(
        "/api/v1/follow_requests", headers=star.auth, params={"max_id": huge}
    )
    assert requests.status_code == 200


async def test_list_limits_are_clamped_like_mastodon(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    star = await make_user("clamp")
    for _ in range(2):
        await follow(client, await make_user("clampfan"), star)
    path = f"/api/v1/accounts/{star.id}/followers"
    assert len(await list_ids(client, path, limit=-1)) == 1
    assert len(await list_ids(client, path, limit=0)) == 1
    assert len(await list_ids(client, path, limit=1000)) == 2
    bad = await client.get(path, params={"limit": "many"})
    assert bad.status_code == 422
    assert bad.json()["error"].startswith("Validation failed")
