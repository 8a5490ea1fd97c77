"""GET /api/v1/accounts/:id/statuses: filters, limits, cursors and the Link header."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import MakeUser
from tests.posts.helpers import comment, publish, upload

BASE = "http://tessera.test"


def _links(response: httpx.Response) -> dict[str, str]:
    header = response.headers.get("link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


async def _grid(
    client: httpx.AsyncClient, account_id: str, **params: Any
) -> tuple[list[str], httpx.Response]:
    response = await client.get(f"/api/v1/accounts/{account_id}/statuses", params=params)
    assert response.status_code == 200, response.text
    return [status["id"] for status in response.json()], response


async def test_pages_follow_the_link_header(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author = await make_user("grid")
    media = [await upload(client, author) for _ in range(5)]
    ids = [(await publish(client, author, media_ids=[m]))["id"] for m in media][::-1]

    first, response = await _grid(client, author.id, limit=2, only_media=1)
    assert first == ids[:2]
    links = _links(response)
    path = f"{BASE}/api/v1/accounts/{author.id}/statuses"
    assert links["next"] == f"{path}?limit=2&only_media=1&max_id={ids[1]}"
    assert links["prev"] == f"{path}?limit=2&only_media=1&min_id={ids[0]}"

    second = await client.get(links["next"])
    assert [s["id"] for s in second.json()] == ids[2:4]
    third = await client.get(_links(second)["next"])
    assert [s["id"] for s in third.json()] == ids[4:]
    assert "next" not in _links(third)  # a short page is the last

    newer, _ = await _grid(client, author.id, min_id=ids[3], limit=2)
    assert newer == ids[1:3]  # the two right after the cursor, newest first
    since, _ = await _grid(client, author.id, since_id=ids[3], limit=2)
    assert since == ids[:2]  # the newest two above the cursor
    between, _ = await _grid(client, author.id, max_id=ids[0], min_id=ids[3])
    assert between == ids[1:3]
    empty, response = await _grid(client, author.id, min_id=ids[0])
    assert empty == []
    assert "link" not in response.headers


async def test_limit_defaults_to_20_and_stops_at_40(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("many")
    parent = await publish(client, author)
    for _ in range(41):
        await comment(client, author, parent["id"], "thread")

    assert len((await _grid(client, author.id))[0]) == 20
    assert len((await _grid(client, author.id, limit=100))[0]) == 40
    assert len((await _grid(client, author.id, limit=0))[0]) == 1


async def test_only_media_exclude_replies_and_pinned(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("filters")
    other = await make_user("other")
    theirs = await publish(client, other)
    post = await publish(client, author, "#sea")
    own_reply = await comment(client, author, post["id"], "me again")
    their_reply = await comment(client, author, theirs["id"], "hi there")

    everything, _ = await _grid(client, author.id)
    assert everything == [their_reply["id"], own_reply["id"], post["id"]]
    assert (await _grid(client, author.id, only_media=1))[0] == [post["id"]]
    assert (await _grid(client, author.id, exclude_replies="true"))[0] == [
        own_reply["id"],
        post["id"],
    ]
    assert (await _grid(client, author.id, tagged="SEA"))[0] == [post["id"]]
    assert (await _grid(client, author.id, pinned=1))[0] == []


async def test_unknown_accounts_are_not_found(client: httpx.AsyncClient) -> None:
    for account_id in ("123456789", "x"):
        response = await client.get(f"/api/v1/accounts/{account_id}/statuses")
        assert response.status_code == 404
