"""The caller's own profile: verify_credentials and update_credentials, with avatars."""

from __future__ import annotations

import re
import secrets
import struct
import zlib
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pyvips

from tests.accounts.helpers import bearer, login
from tests.conftest import Backend, FetchMedia, MakeUser, OAuthClient, StoredKeys, User

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
UPDATE = "/api/v1/accounts/update_credentials"
ME = "/api/v1/accounts/verify_credentials"


def png(width: int = 2, height: int = 2, *, noise: bool = False) -> bytes:
    """A valid RGB PNG; with `noise` its pixels are random, so every call is unique
    (storage is content-addressed) and the file does not compress."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(
        b"\x00" + (secrets.token_bytes(3 * width) if noise else b"\x80\x40\x20" * width)
        for _ in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def unique_png() -> bytes:
    return png(4, 4, noise=True)


async def me(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.get(ME, headers=user.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- verify_credentials --------------------------------------------------------------------


async def test_verify_credentials_has_the_credential_account_shape(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("shape")
    body = await me(client, user)

    assert isinstance(body["id"], str)
    assert body["id"] == user.id
    assert body["id"].isdigit()
    assert body["username"] == user.username
    assert body["acct"] == user.username
    assert RFC3339_Z.match(body["created_at"]), body["created_at"]
    assert body["display_name"] == ""
    assert body["note"] == ""
    assert body["locked"] is False
    assert body["bot"] is False
    assert body["followers_count"] == 0
    assert body["following_count"] == 0
    assert body["statuses_count"] == 0
    assert body["url"] == f"http://tessera.test/@{user.username}"
    assert body["avatar"].startswith("http://tessera.test/")
    assert body["header"].startswith("http://tessera.test/")
    assert body["emojis"] == []
    assert body["fields"] == []
    source = body["source"]
    assert source["privacy"] == "public"
    assert source["sensitive"] is False
    assert source["note"] == ""
    assert source["fields"] == []
    assert source["follow_requests_count"] == 0
    role = body["role"]
    assert isinstance(role["id"], str)
    assert isinstance(role["name"], str)
    assert isinstance(role["permissions"], str)
    assert role["highlighted"] is False
    assert "email" not in body
    assert "password_hash" not in body


async def test_the_default_avatar_is_served(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    body = await me(client, await make_user("defav"))
    response = await client.get(urlsplit(body["avatar"]).path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


async def test_verify_credentials_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}
    bad = await client.get(ME, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


async def test_an_app_token_cannot_verify_credentials(
    client: httpx.AsyncClient, oauth_client: Any
) -> None:
    response = await client.get(ME, headers={"Authorization": f"Bearer {oauth_client.app_token}"})
    assert response.status_code == 422
    assert "error" in response.json()


# -- update_credentials: the happy paths ---------------------------------------------------


async def test_update_urlencoded_fields(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("form")
    response = await client.patch(
        UPDATE,
        headers=user.auth,
        data={
            "display_name": "Ada <Lovelace>",
            "note": 'I <3 photos & "light"\n\nSecond paragraph',
            "locked": "1",
            "source[privacy]": "private",
            "source[sensitive]": "1",
            "return_detailed_error": "0",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_name"] == "Ada <Lovelace>"
    assert body["note"] == ("<p>I &lt;3 photos &amp; &quot;light&quot;</p><p>Second paragraph</p>")
    assert body["source"]["note"] == 'I <3 photos & "light"\n\nSecond paragraph'
    assert body["locked"] is True
    assert body["source"]["privacy"] == "private"
    assert body["source"]["sensitive"] is True

    again = await me(client, user)
    assert again["display_name"] == "Ada <Lovelace>"
    assert again["locked"] is True
    assert again["source"]["privacy"] == "private"
    assert again["source"]["note"] == body["source"]["note"]

    public = (await client.get(f"/api/v1/accounts/{user.id}")).json()
    assert public["display_name"] == "Ada <Lovelace>"
    assert public["note"] == body["note"]
    assert public["locked"] is True
    assert "source" not in public


@pytest.mark.parametrize(
    ("on", "off"), [("1", "0"), ("true", "false"), ("True", "False"), ("on", "off")]
)
async def test_update_accepts_every_boolean_spelling(
    client: httpx.AsyncClient, make_user: MakeUser, on: str, off: str
) -> None:
    user = await make_user("bools")
    locked = await client.patch(UPDATE, headers=user.auth, data={"locked": on, "bot": on})
    assert locked.status_code == 200, locked.text
    assert locked.json()["locked"] is True
    assert locked.json()["bot"] is True
    unlocked = await client.patch(UPDATE, headers=user.auth, data={"locked": off})
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["locked"] is False
    assert unlocked.json()["bot"] is True, "fields not sent are left as they are"
    assert (await me(client, user))["locked"] is False


async def test_update_with_a_json_body(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("json")
    response = await client.patch(
        UPDATE,
        headers=user.auth,
        json={
            "display_name": "Jason",
            "note": "from json",
            "locked": "1",
            "discoverable": True,
            "source": {"privacy": "unlisted", "sensitive": "0", "language": "fr"},
        },
    )
    assert response.status_code == 200, response.text
    body = await me(client, user)
    assert body["display_name"] == "Jason"
    assert body["note"] == "<p>from json</p>"
    assert body["locked"] is True
    assert body["discoverable"] is True
    assert body["source"]["privacy"] == "unlisted"
    assert body["source"]["sensitive"] is False
    assert body["source"]["language"] == "fr"


async def test_update_with_post_as_pixelfed_does(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("pxf")
    response = await client.post(UPDATE, headers=user.auth, data={"display_name": "Pixel"})
    assert response.status_code == 200, response.text
    assert (await me(client, user))["display_name"] == "Pixel"


async def test_an_empty_update_changes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("empty")
    await client.patch(UPDATE, headers=user.auth, data={"display_name": "Kept"})
    before = await me(client, user)
    response = await client.patch(UPDATE, headers=user.auth)
    assert response.status_code == 200, response.text
    assert await me(client, user) == before


async def test_an_empty_display_name_clears_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("clear")
    await client.patch(UPDATE, headers=user.auth, data={"display_name": "Someone"})
    response = await client.patch(UPDATE, headers=user.auth, data={"display_name": ""})
    assert response.status_code == 200, response.text
    assert (await me(client, user))["display_name"] == ""


async def test_limits_are_inclusive(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("limits")
    response = await client.patch(
        UPDATE, headers=user.auth, data={"display_name": "d" * 30, "note": "n" * 500}
    )
    assert response.status_code == 200, response.text
    body = await me(client, user)
    assert body["display_name"] == "d" * 30
    assert body["source"]["note"] == "n" * 500


async def test_multipart_avatar_is_stored_and_served_immutably(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    stored_keys: StoredKeys,
    fetch_media: FetchMedia,
    media_url_prefix: str,
    backend: Backend,
) -> None:
    user = await make_user("avatar")
    image = png(600, 500, noise=True)
    before = await stored_keys()
    response = await client.patch(
        UPDATE,
        headers=user.auth,
        data={"display_name": "With avatar"},
        files={"avatar": ("mastodonpyupload_1_ab.png", image, "image/png")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_name"] == "With avatar"
    assert body["avatar"] == body["avatar_static"]
    assert body["avatar"].startswith(media_url_prefix)
    assert body["avatar"].endswith(".jpg")
    # Re-encoded by the media pipeline: 400 and 80 pixel squares, each as JPEG and WebP.
    assert len(await stored_keys() - before) == 4
    assert (await me(client, user))["avatar"] == body["avatar"]
    public = (await client.get(f"/api/v1/accounts/{user.id}")).json()
    assert public["avatar"] == body["avatar"]

    served = await fetch_media(body["avatar"])
    assert served.status_code == 200
    decoded = pyvips.Image.new_from_buffer(served.content, "")
    assert (decoded.width, decoded.height) == (400, 400)
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["content-type"] == "image/jpeg"
    if backend.on_s3:
        return  # conditional and partial GETs are the object store's business
    path = urlsplit(body["avatar"]).path
    etag = served.headers["etag"]
    assert etag

    cached = await client.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"

    partial = await client.get(path, headers={"Range": "bytes=0-7"})
    assert partial.status_code == 206
    assert partial.content == served.content[:8]
    assert partial.headers["content-range"] == f"bytes 0-7/{len(served.content)}"


async def test_a_header_image_is_stored_too(
    client: httpx.AsyncClient, make_user: MakeUser, fetch_media: FetchMedia, media_url_prefix: str
) -> None:
    user = await make_user("header")
    image = png(900, 600, noise=True)
    response = await client.patch(
        UPDATE, headers=user.auth, files={"header": ("h.png", image, "image/png")}
    )
    assert response.status_code == 200, response.text
    header = response.json()["header"]
    assert header.startswith(media_url_prefix)
    served = pyvips.Image.new_from_buffer((await fetch_media(header)).content, "")
    assert (served.width, served.height) == (900, 300)  # cropped to the 3:1 banner shape


async def test_the_same_image_twice_is_stored_once(
    client: httpx.AsyncClient, make_user: MakeUser, stored_keys: StoredKeys
) -> None:
    first, second = await make_user("same1"), await make_user("same2")
    image = png(600, 500, noise=True)
    before = await stored_keys()
    for user in (first, second):
        response = await client.patch(
            UPDATE, headers=user.auth, files={"avatar": ("a.png", image, "image/png")}
        )
        assert response.status_code == 200, response.text
    assert len(await stored_keys() - before) == 4
    assert (await me(client, first))["avatar"] == (await me(client, second))["avatar"]


# -- update_credentials: bad input changes nothing -------------------------------------------


async def _assert_rejected(
    client: httpx.AsyncClient,
    user: User,
    stored_keys: StoredKeys,
    status: int,
    *,
    data: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> dict[str, Any]:
    before = await me(client, user)
    files_before = await stored_keys()
    response = await client.patch(UPDATE, headers=user.auth, data=data, files=files)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body["error"], str)
    assert await me(client, user) == before
    assert await stored_keys() == files_before
    return body


@pytest.fixture
async def styled_user(client: httpx.AsyncClient, make_user: MakeUser) -> User:
    """A user with a profile already set, so that a change would show."""
    user = await make_user("styled")
    response = await client.patch(
        UPDATE,
        headers=user.auth,
        data={"display_name": "Before", "note": "old note", "source[privacy]": "unlisted"},
    )
    assert response.status_code == 200, response.text
    return user


async def test_display_name_of_31_characters_is_rejected(
    client: httpx.AsyncClient, styled_user: User, stored_keys: StoredKeys
) -> None:
    body = await _assert_rejected(
        client, styled_user, stored_keys, 422, data={"display_name": "x" * 31, "note": "new note"}
    )
    assert body["error"].startswith("Validation failed")
    assert "display_name" in body["details"]


async def test_note_of_501_characters_is_rejected(
    client: httpx.AsyncClient, styled_user: User, stored_keys: StoredKeys
) -> None:
    body = await _assert_rejected(
        client, styled_user, stored_keys, 422, data={"note": "y" * 501, "display_name": "After"}
    )
    assert "note" in body["details"]


async def test_unknown_privacy_is_rejected(
    client: httpx.AsyncClient, styled_user: User, stored_keys: StoredKeys
) -> None:
    body = await _assert_rejected(
        client,
        styled_user,
        stored_keys,
        422,
        data={"source[privacy]": "bogus", "display_name": "After"},
    )
    assert "source[privacy]" in body["details"]


async def test_a_boolean_that_is_not_one_is_rejected(
    client: httpx.AsyncClient, styled_user: User, stored_keys: StoredKeys
) -> None:
    body = await _assert_rejected(
        client, styled_user, stored_keys, 422, data={"locked": "maybe", "display_name": "After"}
    )
    assert "locked" in body["details"]


async def test_a_text_file_named_png_is_rejected(
    client: httpx.AsyncClient, styled_user: User, stored_keys: StoredKeys
) -> None:
    text = b"this is not an image at all, " + secrets.token_hex(8).encode()
    body = await _assert_rejected(
        client,
        styled_user,
        stored_keys,
        422,
        data={"display_name": "After"},
        files={"avatar": ("avatar.png", text, "image/png")},
    )
    assert "avatar" in body["details"]


async def test_a_valid_avatar_is_not_stored_when_another_field_fails(
    client: httpx.AsyncClient, styled_user: User, stored_keys: StoredKeys
) -> None:
    await _assert_rejected(
        client,
        styled_user,
        stored_keys,
        422,
        data={"display_name": "z" * 31},
        files={"avatar": ("avatar.png", unique_png(), "image/png")},
    )


async def test_a_valid_avatar_is_not_stored_when_the_header_fails(
    client: httpx.AsyncClient, styled_user: User, stored_keys: StoredKeys
) -> None:
    await _assert_rejected(
        client,
        styled_user,
        stored_keys,
        422,
        files={
            "avatar": ("avatar.png", unique_png(), "image/png"),
            "header": ("header.png", b"plain text pretending", "image/png"),
        },
    )


async def test_an_avatar_over_the_size_limit_is_413(
    make_client: Any, make_user: MakeUser, stored_keys: StoredKeys
) -> None:
    small: httpx.AsyncClient = await make_client(avatar_size_limit=100)
    user = await make_user("big")
    await small.patch(UPDATE, headers=user.auth, data={"display_name": "Before"})
    image = png(16, 16, noise=True)
    assert len(image) > 100
    body = await _assert_rejected(
        small,
        user,
        stored_keys,
        413,
        data={"display_name": "After"},
        files={"avatar": ("big.png", image, "image/png")},
    )
    assert "100" in body["error"]
    tiny = png(1, 1)
    assert len(tiny) <= 100
    fits = await small.patch(
        UPDATE, headers=user.auth, files={"avatar": ("tiny.png", tiny, "image/png")}
    )
    assert fits.status_code == 200, fits.text


async def test_malformed_json_is_400_and_changes_nothing(
    client: httpx.AsyncClient, styled_user: User
) -> None:
    before = await me(client, styled_user)
    response = await client.patch(
        UPDATE,
        headers={**styled_user.auth, "Content-Type": "application/json"},
        content=b'{"display_name": ',
    )
    assert response.status_code == 400
    assert "error" in response.json()
    assert await me(client, styled_user) == before


async def test_update_needs_the_write_accounts_scope(
    client: httpx.AsyncClient, oauth_client: OAuthClient, make_user: MakeUser
) -> None:
    user = await make_user("rdonly")
    reader = bearer((await login(client, oauth_client, user, "read"))["access_token"])
    assert (await client.get(ME, headers=reader)).status_code == 200
    response = await client.patch(UPDATE, headers=reader, data={"display_name": "Nope"})
    assert response.status_code == 403
    assert response.json() == {"error": "This action is outside the authorized scopes"}
    assert (await me(client, user))["display_name"] == ""
