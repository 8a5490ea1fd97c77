"""The public timeline: public posts of everyone, newest first."""

from __future__ import annotations

import httpx

from tests.conftest import MakeUser
from tests.feed.helpers import PUBLIC, follow, timeline
from tests.posts.helpers import comment, publish


async def test_public_posts_only(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author = await make_user("author")
    locked = await make_user("locked", locked=True)
    fan = await make_user("fan")
    first = await publish(client, author, "public")
    await publish(client, author, "unlisted", visibility="unlisted")
    await publish(client, author, "private", visibility="private")
    await comment(client, author, first["id"])
    hidden = await publish(client, locked, "public on a locked account")
    last = await publish(client, author, "public again")

    anonymous = await timeline(client, PUBLIC, min_id=int(first["id"]) - 1)
    assert [s["id"] for s in anonymous.json()] == [last["id"], first["id"]]
    local = await timeline(client, PUBLIC, fan, local="true", only_media="true", limit=1)
    assert [s["id"] for s in local.json()] == [last["id"]]
    assert 'rel="next"' in local.headers["link"]
    assert "local=true" in local.headers["link"]
    assert (await timeline(client, PUBLIC, fan, remote="true")).json() == []

    await follow(client, fan, locked)
    response = await client.post(f"/api/v1/follow_requests/{fan.id}/authorize", headers=locked.auth)
    assert response.status_code == 200
    seen = await timeline(client, PUBLIC, fan, min_id=int(first["id"]) - 1)
    assert [s["id"] for s in seen.json()] == [last["id"], hidden["id"], first["id"]]
