"""DELETE /api/v1/statuses/:id: own posts only, counters, photos and stored files."""

from __future__ import annotations

import httpx

from tests.conftest import MakeUser, StoredKeys, User
from tests.posts.helpers import STATUSES, account, photo, publish, upload


async def test_deleting_returns_the_source_and_updates_counters(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("author")
    status = await publish(client, author, "Bye #gone", photos=2)
    count = (await account(client, author.id))["statuses_count"]

    response = await client.request(
        "DELETE", f"{STATUSES}/{status['id']}", headers=author.auth, data={"delete_media": "1"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == status["id"]
    assert body["text"] == "Bye #gone"
    assert [m["id"] for m in body["media_attachments"]] == [
        m["id"] for m in status["media_attachments"]
    ]
    assert (await client.get(f"{STATUSES}/{status['id']}", headers=author.auth)).status_code == 404
    assert (await account(client, author.id))["statuses_count"] == count - 1
    for media in status["media_attachments"]:
        gone = await client.get(f"/api/v1/media/{media['id']}", headers=author.auth)
        assert gone.status_code == 404
    again = await client.delete(f"{STATUSES}/{status['id']}", headers=author.auth)
    assert again.status_code == 404


async def test_only_the_author_may_delete(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    author = await make_user("author")
    other = await make_user("other")
    status = await publish(client, author)

    response = await client.delete(f"{STATUSES}/{status['id']}", headers=other.auth)

    assert response.status_code == 404
    assert (await client.get(f"{STATUSES}/{status['id']}")).status_code == 200
    assert (await client.delete(f"{STATUSES}/{status['id']}")).status_code == 401


async def test_files_go_only_when_no_other_upload_uses_them(
    client: httpx.AsyncClient, make_user: MakeUser, stored_keys: StoredKeys
) -> None:
    author = await make_user("files")
    other = await make_user("files")
    shared = photo(colour=b"\x01\x02\x03")
    solo = photo()
    first = await publish(client, author, media_ids=[await upload(client, author, shared)])
    second = await publish(
        client,
        other,
        media_ids=[await upload(client, other, shared), await upload(client, other, solo)],
    )
    shared_keys = await _keys(client, other, second["media_attachments"][0]["id"])
    solo_keys = await _keys(client, other, second["media_attachments"][1]["id"])
    assert shared_keys <= await stored_keys()
    assert solo_keys <= await stored_keys()

    delete = await client.delete(f"{STATUSES}/{first['id']}", headers=author.auth)
    assert delete.status_code == 200
    assert shared_keys <= await stored_keys()  # the other post still uses them

    delete = await client.delete(f"{STATUSES}/{second['id']}", headers=other.auth)
    assert delete.status_code == 200
    left = await stored_keys()
    assert not shared_keys & left
    assert not solo_keys & left


async def test_an_avatar_keeps_a_file_a_deleted_post_shared(
    client: httpx.AsyncClient, make_user: MakeUser, stored_keys: StoredKeys
) -> None:
    """A square photo of avatar size renders to the very bytes of the avatar."""
    author = await make_user("avatar")
    square = photo(400, 400, colour=b"\x10\x20\x30")
    update = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=author.auth,
        files={"avatar": ("a.png", square, "image/png")},
    )
    assert update.status_code == 200, update.text
    avatar_key = "/".join(update.json()["avatar"].rsplit("/", 3)[-3:])
    media_id = await upload(client, author, square)
    assert avatar_key in await _keys(client, author, media_id)  # the same file
    status = await publish(client, author, media_ids=[media_id])

    delete = await client.delete(f"{STATUSES}/{status['id']}", headers=author.auth)

    assert delete.status_code == 200
    assert avatar_key in await stored_keys()


async def _keys(client: httpx.AsyncClient, user: User, media_id: str) -> set[str]:
    """The storage keys of one upload, read from the URLs it is served at."""
    response = await client.get(f"/api/v1/media/{media_id}", headers=user.auth)
    assert response.status_code == 200
    urls = [
        url
        for rendition in response.json()["tessera"].values()
        for url in rendition.values()
        if isinstance(url, str)
    ]
    return {"/".join(url.rsplit("/", 3)[-3:]) for url in urls}
