"""The home timeline: followed accounts' posts and one's own, newest first."""

from __future__ import annotations

import httpx

from tests.conftest import MakeUser
from tests.feed.helpers import (
    HOME,
    delete_status,
    feed_exists,
    follow,
    home,
    settle,
    stored_ids,
    unfollow,
    wipe_feed,
)
from tests.posts.helpers import comment, publish


async def test_follow_post_unfollow_and_delete(
    feed_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    client = feed_client
    reader = await make_user("reader")
    author = await make_user("author")
    stranger = await make_user("stranger")
    before = await publish(client, author, "before the follow")
    assert await home(client, reader) == []

    await follow(client, reader, author)
    assert await home(client, reader) == [before["id"]]

    private = await publish(client, author, "friends only", visibility="private")
    unlisted = await publish(client, author, "quiet", visibility="unlisted")
    await comment(client, author, before["id"], "a comment stays under its post")
    own = await publish(client, reader, "mine")
    await settle(client)
    expected = [own["id"], unlisted["id"], private["id"], before["id"]]
    assert await home(client, reader) == expected
    assert await home(client, stranger) == []
    assert await home(client, author) == [unlisted["id"], private["id"], before["id"]]

    await delete_status(client, author, private["id"])
    assert await home(client, reader) == [own["id"], unlisted["id"], before["id"]]

    await unfollow(client, reader, author)
    assert await home(client, reader) == [own["id"]]

    await follow(client, reader, author)
    assert await home(client, reader) == [own["id"], unlisted["id"], before["id"]]


async def test_remove_from_followers_takes_the_posts_away(
    feed_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    client = feed_client
    reader = await make_user("reader")
    author = await make_user("author")
    await follow(client, reader, author)
    post = await publish(client, author)
    await settle(client)
    assert await home(client, reader) == [post["id"]]

    response = await client.post(
        f"/api/v1/accounts/{reader.id}/remove_from_followers", headers=author.auth
    )
    assert response.status_code == 200, response.text
    await settle(client)
    assert await home(client, reader) == []


async def test_private_posts_reach_approved_followers_only(
    feed_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    client = feed_client
    author = await make_user("locked", locked=True)
    asker = await make_user("asker")
    refused = await make_user("refused")
    public = await publish(client, author, "public, but the account is locked")
    private = await publish(client, author, "followers only", visibility="private")

    for requester in (asker, refused):
        relationship = await follow(client, requester, author)
        assert relationship["requested"] is True
        assert await home(client, requester) == []

    response = await client.post(
        f"/api/v1/follow_requests/{refused.id}/reject", headers=author.auth
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"/api/v1/follow_requests/{asker.id}/authorize", headers=author.auth
    )
    assert response.status_code == 200, response.text
    await settle(client)

    assert await home(client, asker) == [private["id"], public["id"]]
    assert await home(client, refused) == []
    later = await publish(client, author, "later", visibility="private")
    await settle(client)
    assert await home(client, asker) == [later["id"], private["id"], public["id"]]
    assert await home(client, refused) == []


async def test_a_lost_feed_is_rebuilt_from_the_database(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    reader = await make_user("reader")
    authors = [await make_user("author") for _ in range(2)]
    for author in authors:
        await follow(client, reader, author)
    posts = [await publish(client, author) for author in authors for _ in range(2)]
    own = await publish(client, reader)
    await settle(client)
    expected = [own["id"], *(post["id"] for post in reversed(posts))]
    assert await home(client, reader) == expected
    assert await feed_exists(client, reader)

    await wipe_feed(client)
    assert not await feed_exists(client, reader)
    assert await home(client, reader) == expected
    assert await feed_exists(client, reader)

    late = await publish(client, authors[0])
    await settle(client)
    assert await home(client, reader) == [late["id"], *expected]


async def test_an_empty_feed_is_not_rebuilt_again(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    newcomer = await make_user("newcomer")
    assert await home(client, newcomer) == []
    assert await home(client, newcomer, max_id="1") == []


async def test_the_home_timeline_needs_a_user_token_with_read_statuses(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    assert (await client.get(HOME)).status_code == 401
    user = await make_user()
    response = await client.get(HOME, headers=user.auth, params={"max_id": "nope"})
    assert response.status_code == 422


async def test_celebrities_are_merged_at_read_time_not_stored(
    client: httpx.AsyncClient, celebrity_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    reader = await make_user("reader")
    star = await make_user("star")
    old = await publish(celebrity_client, star)
    await follow(celebrity_client, reader, star)
    new = await publish(celebrity_client, star)
    await settle(celebrity_client)
    assert await home(celebrity_client, reader) == [new["id"], old["id"]]
    assert await stored_ids(celebrity_client, reader) == set()

    fan = await make_user("fan")
    author = await make_user("author")
    await follow(client, fan, author)
    post = await publish(client, author)
    await settle(client)
    assert await stored_ids(client, fan) == {int(post["id"])}
