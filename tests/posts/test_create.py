"""Publishing posts and comments: fields, captions, counters, idempotency, bad input."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import MakeUser, User
from tests.posts.helpers import (
    STATUSES,
    account,
    comment,
    event_count,
    photo,
    publish,
    upload,
)

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def test_a_post_has_the_status_shape(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author = await make_user("author")
    first = await upload(client, author, description="the first")
    second = await upload(client, author)
    before = await account(client, author.id)

    status = await publish(
        client,
        author,
        "Sunset",
        media_ids=[second, first],
        sensitive="1",
        spoiler_text="bright",
        visibility="unlisted",
        language="en",
    )

    assert status["id"].isdigit()
    assert RFC3339_Z.match(status["created_at"])
    assert status["in_reply_to_id"] is None
    assert status["in_reply_to_account_id"] is None
    assert status["sensitive"] is True
    assert status["spoiler_text"] == "bright"
    assert status["visibility"] == "unlisted"
    assert status["language"] == "en"
    assert status["content"] == "<p>Sunset</p>"
    assert status["account"]["id"] == author.id
    assert status["account"]["acct"] == author.username
    assert [m["id"] for m in status["media_attachments"]] == [second, first]
    assert status["media_attachments"][1]["description"] == "the first"
    assert status["media_attachments"][0]["url"]
    assert status["uri"].endswith(f"/users/{author.username}/statuses/{status['id']}")
    assert status["url"].endswith(f"/@{author.username}/{status['id']}")
    for name in ("replies_count", "reblogs_count", "favourites_count"):
        assert status[name] == 0
    for name in ("favourited", "reblogged", "muted", "bookmarked", "pinned"):
        assert status[name] is False
    assert status["mentions"] == []
    assert status["tags"] == []
    assert status["emojis"] == []
    assert status["reblog"] is None
    assert status["card"] is None
    assert status["poll"] is None
    assert status["edited_at"] is None
    assert status["application"] == {"name": "tests", "website": None}

    fetched = await client.get(f"{STATUSES}/{status['id']}", headers=author.auth)
    assert fetched.status_code == 200
    assert fetched.json() == status
    after = await account(client, author.id)
    assert after["statuses_count"] == before["statuses_count"] + 1
    assert after["last_status_at"] == status["created_at"][:10]


async def test_anonymous_readers_get_no_viewer_flags(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("author")
    status = await publish(client, author, "Hello")

    response = await client.get(f"{STATUSES}/{status['id']}")

    assert response.status_code == 200
    body = response.json()
    assert "favourited" not in body
    assert body["application"] is None
    assert body["account"]["id"] == author.id


async def test_json_body_with_numeric_ids_and_string_booleans(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("json")
    ids = [await upload(client, author), await upload(client, author)]

    response = await client.post(
        STATUSES,
        headers=author.auth,
        json={"status": "JSON", "media_ids": [int(ids[0]), ids[1]], "sensitive": "0"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [m["id"] for m in body["media_attachments"]] == ids
    assert body["sensitive"] is False


async def test_visibility_defaults_to_the_account_preference(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("defaults")
    update = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=author.auth,
        data={"source[privacy]": "private"},
    )
    assert update.status_code == 200

    assert (await publish(client, author))["visibility"] == "private"
    assert (await publish(client, author, visibility="public"))["visibility"] == "public"


async def test_hashtags_and_mentions_are_stored_and_linked(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("tagger")
    friend = await make_user("friend")
    caption = (
        f"Walk with @{friend.username.upper()} & @nobody_{friend.id} #Été #sun_set #2024 #sun_SET"
        "\nsecond <line>\n\nnext #paragraph"
    )

    status = await publish(client, author, caption)

    assert [t["name"] for t in status["tags"]] == ["paragraph", "sun_set", "été"]
    assert status["tags"][0]["url"] == "http://tessera.test/tags/paragraph"
    assert status["mentions"] == [
        {
            "id": friend.id,
            "username": friend.username,
            "url": f"http://tessera.test/@{friend.username}",
            "acct": friend.username,
        }
    ]
    content = status["content"]
    assert content.startswith('<p>Walk with <span class="h-card"')
    assert f'href="http://tessera.test/@{friend.username}"' in content
    assert f"@<span>{friend.username}</span></a>" in content
    assert f"@nobody_{friend.id}" in content  # unknown: plain text
    assert "&amp;" in content
    assert 'href="http://tessera.test/tags/%C3%A9t%C3%A9"' in content
    assert "#<span>Été</span>" in content
    assert "#2024" in content
    assert "#<span>2024" not in content  # digits only: no tag
    assert "<br />second &lt;line&gt;</p><p>next " in content
    assert content.endswith("#<span>paragraph</span></a></p>")


async def test_a_caption_of_exactly_2200_characters_is_fine(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("long")
    status = await publish(client, author, "é" * 2200)
    assert status["content"] == f"<p>{'é' * 2200}</p>"


async def test_idempotency_key_returns_the_original_post(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("idem")
    other = await make_user("idem")
    key = {"Idempotency-Key": "same-key-123"}
    first = await publish(client, author, "once", headers=key)
    count = (await account(client, author.id))["statuses_count"]

    again = await publish(client, author, "once", headers=key)

    assert again["id"] == first["id"]
    assert (await account(client, author.id))["statuses_count"] == count
    # The second request's upload was not attached: it can still be posted.
    # Another account may use the same key.
    mine = await publish(client, other, "mine", headers=key)
    assert mine["id"] != first["id"]
    # After deletion the key is free again.
    deleted = await client.delete(f"{STATUSES}/{first['id']}", headers=author.auth)
    assert deleted.status_code == 200
    fresh = await publish(client, author, "twice", headers=key)
    assert fresh["id"] != first["id"]


# -- comments --------------------------------------------------------------------------------


async def test_a_comment_counts_on_its_parent(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("author")
    fan = await make_user("fan")
    parent = await publish(client, author, "A photo")

    reply = await comment(client, fan, parent["id"], f"@{author.username} lovely")

    assert reply["in_reply_to_id"] == parent["id"]
    assert reply["in_reply_to_account_id"] == author.id
    assert reply["media_attachments"] == []
    assert [m["id"] for m in reply["mentions"]] == [author.id]
    fetched = await client.get(f"{STATUSES}/{parent['id']}")
    assert fetched.json()["replies_count"] == 1

    deleted = await client.delete(f"{STATUSES}/{reply['id']}", headers=fan.auth)
    assert deleted.status_code == 200
    assert (await client.get(f"{STATUSES}/{parent['id']}")).json()["replies_count"] == 0


# -- bad input: a 422 (or 404) and nothing stored ---------------------------------------------


async def _refused(
    client: httpx.AsyncClient,
    user: User,
    data: dict[str, Any],
    status: int = 422,
    field: str | None = "media_ids",
) -> dict[str, Any]:
    before_events = await event_count(client)
    before = (await account(client, user.id))["statuses_count"]
    response = await client.post(STATUSES, headers=user.auth, data=data)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert "error" in body
    if status == 422 and field is not None:
        assert field in body["details"], body
    assert (await account(client, user.id))["statuses_count"] == before
    assert await event_count(client) == before_events
    return body


async def _still_free(client: httpx.AsyncClient, user: User, media_ids: list[str]) -> None:
    """The uploads a refused request named were left unattached: they post fine now."""
    await publish(client, user, "later", media_ids=media_ids)


async def test_eleven_photos_are_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author = await make_user("eleven")
    ids = [await upload(client, author, photo(colour=bytes([i, 9, 9]))) for i in range(11)]

    body = await _refused(client, author, {"status": "x", "media_ids[]": ids})

    assert body["error"].startswith("Validation failed: Media ids")
    await _still_free(client, author, ids[:10])


async def test_the_same_photo_twice_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("twice")
    media_id = await upload(client, author)

    await _refused(client, author, {"media_ids[]": [media_id, media_id]})

    await _still_free(client, author, [media_id])


async def test_someone_elses_photo_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("thief")
    owner = await make_user("owner")
    mine = await upload(client, author)
    theirs = await upload(client, owner)

    await _refused(client, author, {"media_ids[]": [mine, theirs]})

    await _still_free(client, author, [mine])
    await _still_free(client, owner, [theirs])


@pytest.mark.parametrize("media_id", ["123456789", "not-an-id", "99999999999999999999"])
async def test_unknown_photos_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, media_id: str
) -> None:
    author = await make_user("unknown")
    mine = await upload(client, author)

    await _refused(client, author, {"media_ids[]": [mine, media_id]})

    await _still_free(client, author, [mine])


async def test_photos_of_a_deleted_post_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("deleted")
    post = await publish(client, author)
    media_id = post["media_attachments"][0]["id"]
    assert (await client.delete(f"{STATUSES}/{post['id']}", headers=author.auth)).status_code == 200

    await _refused(client, author, {"media_ids[]": [media_id]})


async def test_photos_attached_to_another_post_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("reuse")
    post = await publish(client, author)
    fresh = await upload(client, author)

    body = await _refused(
        client, author, {"media_ids[]": [fresh, post["media_attachments"][0]["id"]]}
    )

    assert body["details"]["media_ids"][0]["error"] == "ERR_TAKEN"
    await _still_free(client, author, [fresh])


async def test_a_caption_over_2200_characters_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("verbose")
    media_id = await upload(client, author)

    await _refused(
        client, author, {"status": "a" * 2201, "media_ids[]": [media_id]}, field="status"
    )

    await _still_free(client, author, [media_id])


async def test_a_post_without_photos_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("empty")
    body = await _refused(client, author, {"status": "Just words"})
    assert body["details"]["media_ids"][0]["error"] == "ERR_BLANK"


async def test_a_comment_with_photos_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("author")
    parent = await publish(client, author)
    media_id = await upload(client, author)

    await _refused(
        client,
        author,
        {"status": "look", "in_reply_to_id": parent["id"], "media_ids[]": [media_id]},
    )

    await _still_free(client, author, [media_id])


async def test_a_blank_comment_is_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author = await make_user("author")
    parent = await publish(client, author)
    await _refused(client, author, {"status": "  ", "in_reply_to_id": parent["id"]}, field="status")


@pytest.mark.parametrize("parent", ["123456789", "nope"])
async def test_a_comment_on_an_unknown_post_is_not_found(
    client: httpx.AsyncClient, make_user: MakeUser, parent: str
) -> None:
    author = await make_user("orphan")
    await _refused(client, author, {"status": "hi", "in_reply_to_id": parent}, status=404)


@pytest.mark.parametrize(
    ("visibility", "code"), [("direct", "ERR_UNSUPPORTED"), ("everyone", "ERR_INCLUSION")]
)
async def test_direct_and_unknown_visibilities_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, visibility: str, code: str
) -> None:
    author = await make_user("direct")
    media_id = await upload(client, author)

    body = await _refused(
        client, author, {"media_ids[]": [media_id], "visibility": visibility}, field="visibility"
    )

    assert body["details"]["visibility"][0]["error"] == code
    await _still_free(client, author, [media_id])


async def test_scheduled_posts_are_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author = await make_user("later")
    media_id = await upload(client, author)
    await _refused(
        client,
        author,
        {"media_ids[]": [media_id], "scheduled_at": "2099-01-01T00:00:00Z"},
        field="scheduled_at",
    )


async def test_posting_needs_a_user_token_with_write_statuses(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("scopes")
    assert (await client.post(STATUSES, data={"status": "x"})).status_code == 401
    bad = await client.post(STATUSES, headers={"Authorization": "Bearer nope"}, data={})
    assert bad.status_code == 401
    assert (await client.get(f"{STATUSES}/1")).status_code == 404
    assert (await client.get(f"{STATUSES}/abc", headers=author.auth)).status_code == 404


async def test_instance_counts_statuses(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    before = (await client.get("/api/v1/instance")).json()["stats"]["status_count"]
    author = await make_user("counted")
    await publish(client, author)
    after = (await client.get("/api/v1/instance")).json()["stats"]["status_count"]
    assert after == before + 1
