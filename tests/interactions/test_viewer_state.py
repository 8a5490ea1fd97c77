"""Every Status shows the viewer's own likes and saves, wherever it is read."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import MakeUser, User
from tests.feed.helpers import HOME, PUBLIC, follow, settle
from tests.interactions.helpers import acted, listed
from tests.posts.helpers import STATUSES, comment, publish


def _marks(statuses: list[dict[str, Any]], status_id: str) -> tuple[bool, bool]:
    [status] = [s for s in statuses if s["id"] == status_id]
    return status["favourited"], status["bookmarked"]


async def _everywhere(
    client: httpx.AsyncClient, viewer: User, author: User, post_id: str, reply_id: str
) -> set[tuple[bool, bool]]:
    """The (favourited, bookmarked) flags of the post as the viewer reads it in every
    place a Status appears; one value if they all agree."""
    seen = set()
    single = await client.get(f"{STATUSES}/{post_id}", headers=viewer.auth)
    seen.add(_marks([single.json()], post_id))
    for path in (HOME, PUBLIC, f"/api/v1/accounts/{author.id}/statuses"):
        seen.add(_marks((await listed(client, path, viewer, limit=40)).json(), post_id))
    context = await client.get(f"{STATUSES}/{reply_id}/context", headers=viewer.auth)
    seen.add(_marks(context.json()["ancestors"], post_id))
    return seen


async def test_likes_and_saves_show_in_every_list(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan, other = await make_user("author"), await make_user("fan"), await make_user()
    for reader in (fan, other):
        await follow(client, reader, author)
    post = await publish(client, author, "everywhere")
    older = await publish(client, author, "older, untouched")
    reply = await comment(client, other, post["id"])
    await settle(client)

    assert await _everywhere(client, fan, author, post["id"], reply["id"]) == {(False, False)}
    await acted(client, fan, post["id"], "favourite")
    assert await _everywhere(client, fan, author, post["id"], reply["id"]) == {(True, False)}
    await acted(client, fan, post["id"], "bookmark")
    assert await _everywhere(client, fan, author, post["id"], reply["id"]) == {(True, True)}
    await acted(client, fan, reply["id"], "favourite")

    assert await _everywhere(client, other, author, post["id"], reply["id"]) == {(False, False)}
    for path in ("/api/v1/favourites", "/api/v1/bookmarks"):
        assert _marks((await listed(client, path, fan)).json(), post["id"]) == (True, True)
    context = await client.get(f"{STATUSES}/{post['id']}/context", headers=fan.auth)
    assert _marks(context.json()["descendants"], reply["id"]) == (True, False)
    home = (await listed(client, HOME, fan)).json()
    assert _marks(home, older["id"]) == (False, False)
    anonymous = await client.get(f"{STATUSES}/{post['id']}")
    assert "favourited" not in anonymous.json()
    assert anonymous.json()["favourites_count"] == 1
