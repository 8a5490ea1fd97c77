"""GET /api/v1/statuses/:id/context: a post's thread of comments, in order, bounded,
through the visibility rules."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import MakeUser, User
from tests.feed.helpers import follow
from tests.posts.helpers import STATUSES, comment, publish


async def _context(
    client: httpx.AsyncClient, status_id: str, viewer: User | None = None
) -> dict[str, list[str]]:
    response = await client.get(
        f"{STATUSES}/{status_id}/context", headers=viewer.auth if viewer else {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, list[dict[str, Any]]] = response.json()
    return {part: [status["id"] for status in statuses] for part, statuses in body.items()}


async def test_ancestors_root_first_and_descendants_in_thread_order(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, ann, bob = await make_user("author"), await make_user("ann"), await make_user("bob")
    post = (await publish(client, author, "A photo"))["id"]
    first = (await comment(client, ann, post, "first"))["id"]
    second = (await comment(client, bob, post, "second"))["id"]
    answer = (await comment(client, bob, first, "answer to first"))["id"]
    deeper = (await comment(client, ann, answer, "deeper"))["id"]
    later = (await comment(client, author, first, "later answer to first"))["id"]

    whole = await _context(client, post, ann)

    assert whole == {"ancestors": [], "descendants": [first, answer, deeper, later, second]}
    assert await _context(client, deeper) == {"ancestors": [post, first, answer], "descendants": []}
    assert await _context(client, first, bob) == {
        "ancestors": [post],
        "descendants": [answer, deeper, later],
    }
    full = await client.get(f"{STATUSES}/{post}/context", headers=ann.auth)
    replies = {status["id"]: status["replies_count"] for status in full.json()["descendants"]}
    assert replies == {first: 2, answer: 1, deeper: 0, later: 0, second: 0}


async def test_comments_hidden_from_the_viewer_are_left_out(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, friend = await make_user("author"), await make_user("friend")
    stranger = await make_user("stranger")
    await follow(client, author, friend)
    post = (await publish(client, author, "public"))["id"]
    secret = (await comment(client, friend, post, "for my followers", visibility="private"))["id"]
    open_ = (await comment(client, friend, post, "for all"))["id"]

    assert (await _context(client, post, author))["descendants"] == [secret, open_]
    assert (await _context(client, post, stranger))["descendants"] == [open_]
    assert (await _context(client, post))["descendants"] == [open_]
    hidden = await client.get(f"{STATUSES}/{secret}/context", headers=stranger.auth)
    assert hidden.status_code == 404
    assert hidden.json() == {"error": "Record not found"}


async def test_a_long_thread_is_bounded_oldest_comments_first(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Anonymous readers get Mastodon's 60 descendants; signed-in readers get more."""
    author, fan = await make_user("author"), await make_user("fan")
    post = (await publish(client, author))["id"]
    comments = [(await comment(client, fan, post, f"comment {n}"))["id"] for n in range(61)]

    assert (await _context(client, post))["descendants"] == comments[:60]
    assert (await _context(client, post, author))["descendants"] == comments


async def test_a_thread_is_cut_at_its_depth_bound(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("author")
    chain = [(await publish(client, author))["id"]]
    for n in range(21):
        chain.append((await comment(client, author, chain[-1], f"level {n + 1}"))["id"])

    assert (await _context(client, chain[0]))["descendants"] == chain[1:21]
    assert (await _context(client, chain[0], author))["descendants"] == chain[1:]
    assert (await _context(client, chain[-1]))["ancestors"] == chain[:-1]


async def test_an_unknown_post_has_no_context(client: httpx.AsyncClient) -> None:
    for status_id in ("123456789", "abc"):
        response = await client.get(f"{STATUSES}/{status_id}/context")
        assert response.status_code == 404
