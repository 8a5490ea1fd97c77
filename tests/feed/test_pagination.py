"""Timeline pages: Mastodon's max_id / since_id / min_id / limit and its Link header."""

from __future__ import annotations

import re

import httpx

from tests.conftest import MakeUser
from tests.feed.helpers import HOME, follow, settle, timeline
from tests.posts.helpers import publish

LINK = re.compile(r'<([^>]+)>; rel="(next|prev)"')


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("link", ""))}


def ids(response: httpx.Response) -> list[str]:
    return [status["id"] for status in response.json()]


async def test_pages_follow_the_link_header_without_repeats_or_gaps(
    feed_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    client = feed_client
    reader = await make_user("reader")
    author = await make_user("author")
    await follow(client, reader, author)
    posts = [(await publish(client, author, f"post {n}"))["id"] for n in range(5)]
    await settle(client)
    newest_first = posts[::-1]

    first = await timeline(client, HOME, reader, limit=2)
    assert ids(first) == newest_first[:2]
    base = "http://tessera.test/api/v1/timelines/home"
    assert first.headers["link"] == (
        f'<{base}?limit=2&max_id={newest_first[1]}>; rel="next", '
        f'<{base}?limit=2&min_id={newest_first[0]}>; rel="prev"'
    )

    arrived = (await publish(client, author, "arrives between pages"))["id"]
    await settle(client)
    seen = ids(first)
    response = first
    while "next" in links(response):
        response = await client.get(links(response)["next"], headers=reader.auth)
        assert response.status_code == 200
        seen += ids(response)
    assert seen == newest_first
    assert len(ids(response)) == 1  # the last page is not full: it has no next link
    assert "prev" in links(response)

    newer = await client.get(links(first)["prev"], headers=reader.auth)
    assert ids(newer) == [arrived]
    assert set(links(newer)) == {"prev"}
    top = await client.get(links(newer)["prev"], headers=reader.auth)
    assert ids(top) == []
    assert "link" not in top.headers


async def test_cursor_semantics(feed_client: httpx.AsyncClient, make_user: MakeUser) -> None:
    client = feed_client
    reader = await make_user("reader")
    author = await make_user("author")
    await follow(client, reader, author)
    p = [(await publish(client, author))["id"] for _ in range(3)]
    p.append((await publish(client, reader))["id"])
    p.append((await publish(client, author))["id"])
    await settle(client)
    # p[0] < p[1] < … < p[4]; p[3] is the reader's own.

    async def page(**params: str | int) -> list[str]:
        return ids(await timeline(client, HOME, reader, **params))

    assert await page() == p[::-1]
    assert await page(max_id=p[3]) == [p[2], p[1], p[0]]
    assert await page(since_id=p[0], limit=2) == [p[4], p[3]]  # the newest above the bound
    assert await page(min_id=p[0], limit=2) == [p[2], p[1]]  # right after the cursor
    assert await page(min_id=p[0], max_id=p[3]) == [p[2], p[1]]
    assert await page(since_id=p[1], max_id=p[4]) == [p[3], p[2]]
    assert await page(limit=-2) == [p[4], p[3]]  # Mastodon takes the absolute value
    assert await page(limit=0) == [p[4]]
    assert await page(max_id=p[0]) == []
    assert await page(max_id="99999999999999999999999") == p[::-1]
