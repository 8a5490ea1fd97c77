"""Uploading and describing photos: POST /api/v2/media, GET and PUT /api/v1/media/:id."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tessera.media.models import MediaAttachment
from tests.accounts.helpers import bearer, db, login
from tests.conftest import AppFactory, FetchMedia, MakeUser, OAuthClient, StoredKeys, User
from tests.media import images
from tests.media.helpers import (
    UPLOAD,
    Refused,
    decoded,
    media_count,
    upload,
    uploaded,
)

MEDIA = "/api/v1/media"


# -- the happy path --------------------------------------------------------------------------------


async def test_a_12_megapixel_photo_is_ready_when_the_upload_returns(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    photo = images.halves(4000, 3000, 60, 200, across=True).jpegsave_buffer(Q=85)
    response = await upload(client, user, photo)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "image"
    assert body["id"].isdigit()
    assert body["url"] is not None
    assert body["preview_url"] is not None
    assert body["remote_url"] is None
    assert body["description"] is None
    assert body["meta"]["original"] == {
        "width": 1080,
        "height": 810,
        "size": "1080x810",
        "aspect": pytest.approx(4 / 3, abs=1e-3),
    }
    served = await fetch_media(body["url"])
    assert served.status_code == 200
    assert (decoded(served.content).width, decoded(served.content).height) == (1080, 810)


async def test_the_old_v1_upload_route_works_too(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(
        "/api/v1/media", headers=user.auth, files={"file": ("a.jpg", images.jpeg(), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    assert response.json()["url"]


async def test_description_and_focus_arrive_with_the_file(
    client: httpx.AsyncClient, user: User
) -> None:
    body = await uploaded(
        client, user, images.jpeg(), description="A cat on a mat", focus="0.25,-0.5"
    )
    assert body["description"] == "A cat on a mat"
    assert body["meta"]["focus"] == {"x": 0.25, "y": -0.5}

    again = await client.get(f"{MEDIA}/{body['id']}", headers=user.auth)
    assert again.status_code == 200, again.text
    assert again.json() == body


async def test_without_focus_the_centre_is_assumed(client: httpx.AsyncClient, user: User) -> None:
    body = await uploaded(client, user, images.jpeg())
    assert body["meta"]["focus"] == {"x": 0.0, "y": 0.0}


async def test_put_changes_description_and_focus(client: httpx.AsyncClient, user: User) -> None:
    body = await uploaded(client, user, images.jpeg(), description="before")
    # As Mastodon.py's media_update sends it: urlencoded.
    response = await client.put(
        f"{MEDIA}/{body['id']}",
        headers=user.auth,
        data={"description": "after", "focus": "0.0,0.5"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["description"] == "after"
    assert updated["meta"]["focus"] == {"x": 0.0, "y": 0.5}
    assert updated["url"] == body["url"]

    kept = await client.put(f"{MEDIA}/{body['id']}", headers=user.auth, data={"focus": "-1,1"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["description"] == "after", "fields not sent stay as they are"
    assert kept.json()["meta"]["focus"] == {"x": -1.0, "y": 1.0}

    fetched = (await client.get(f"{MEDIA}/{body['id']}", headers=user.auth)).json()
    assert fetched["description"] == "after"
    assert fetched["meta"]["focus"] == {"x": -1.0, "y": 1.0}


async def test_put_accepts_multipart_and_json(client: httpx.AsyncClient, user: User) -> None:
    body = await uploaded(client, user, images.jpeg())
    multipart = await client.put(
        f"{MEDIA}/{body['id']}", headers=user.auth, files={"description": (None, "by multipart")}
    )
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["description"] == "by multipart"
    as_json = await client.put(
        f"{MEDIA}/{body['id']}", headers=user.auth, json={"description": "by json"}
    )
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["description"] == "by json"


async def test_a_description_of_1500_characters_is_accepted(
    client: httpx.AsyncClient, user: User
) -> None:
    body = await uploaded(client, user, images.jpeg(), description="d" * 1500)
    assert body["description"] == "d" * 1500


# -- validation of the fields ----------------------------------------------------------------------


@pytest.mark.parametrize("focus", ["1.5,0", "0,-1.01", "nan,0", "inf,0", "0.5", "a,b", "1,2,3"])
async def test_a_bad_focus_is_422_on_upload_and_update(
    client: httpx.AsyncClient,
    user: User,
    stored_keys: StoredKeys,
    focus: str,
) -> None:
    keys, rows = await stored_keys(), await media_count(client)
    response = await upload(client, user, images.jpeg(), focus=focus)
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("Validation failed: Focus ")
    assert "focus" in response.json()["details"]
    assert await stored_keys() == keys
    assert await media_count(client) == rows

    body = await uploaded(client, user, images.jpeg(), focus="0.1,0.1")
    update = await client.put(f"{MEDIA}/{body['id']}", headers=user.auth, data={"focus": focus})
    assert update.status_code == 422, update.text
    fetched = (await client.get(f"{MEDIA}/{body['id']}", headers=user.auth)).json()
    assert fetched["meta"]["focus"] == {"x": 0.1, "y": 0.1}


async def test_a_description_over_1500_characters_is_422(
    client: httpx.AsyncClient, user: User, stored_keys: StoredKeys
) -> None:
    keys, rows = await stored_keys(), await media_count(client)
    response = await upload(client, user, images.jpeg(), description="d" * 1501)
    assert response.status_code == 422, response.text
    assert "1500" in response.json()["error"]
    assert "description" in response.json()["details"]
    assert await stored_keys() == keys
    assert await media_count(client) == rows

    body = await uploaded(client, user, images.jpeg(), description="short")
    update = await client.put(
        f"{MEDIA}/{body['id']}", headers=user.auth, data={"description": "d" * 1501}
    )
    assert update.status_code == 422, update.text
    fetched = (await client.get(f"{MEDIA}/{body['id']}", headers=user.auth)).json()
    assert fetched["description"] == "short"


# -- who may see what ------------------------------------------------------------------------------


async def test_someone_elses_media_is_not_found(
    client: httpx.AsyncClient, user: User, make_user: MakeUser
) -> None:
    body = await uploaded(client, user, images.jpeg(), description="mine")
    other = await make_user("other")
    got = await client.get(f"{MEDIA}/{body['id']}", headers=other.auth)
    assert got.status_code == 404
    assert got.json() == {"error": "Record not found"}
    put = await client.put(
        f"{MEDIA}/{body['id']}", headers=other.auth, data={"description": "theirs"}
    )
    assert put.status_code == 404
    fetched = (await client.get(f"{MEDIA}/{body['id']}", headers=user.auth)).json()
    assert fetched["description"] == "mine"


async def test_media_in_a_post_is_described_through_the_post(
    client: httpx.AsyncClient, user: User
) -> None:
    body = await uploaded(client, user, images.jpeg(), description="before posting")
    async with db(client) as session:
        media = await session.get(MediaAttachment, int(body["id"]))
        assert media is not None
        media.post_id = 2**62 + secrets.randbelow(2**40)  # no such post: only the mark counts
    put = await client.put(
        f"{MEDIA}/{body['id']}", headers=user.auth, data={"description": "after posting"}
    )
    assert put.status_code == 404
    got = await client.get(f"{MEDIA}/{body['id']}", headers=user.auth)
    assert got.status_code == 200
    assert got.json()["description"] == "before posting"


@pytest.mark.parametrize("media_id", ["abc", "12x", "-1", "99999999999999999999", "1"])
async def test_an_id_that_names_no_media_is_404(
    client: httpx.AsyncClient, user: User, media_id: str
) -> None:
    got = await client.get(f"{MEDIA}/{media_id}", headers=user.auth)
    assert got.status_code == 404
    assert got.json() == {"error": "Record not found"}
    put = await client.put(f"{MEDIA}/{media_id}", headers=user.auth, data={"description": "x"})
    assert put.status_code == 404


@pytest.fixture
async def reader(
    client: httpx.AsyncClient, oauth_client: OAuthClient, make_user: MakeUser
) -> dict[str, str]:
    """The headers of a token with only the `read` scope."""
    person = await make_user("reader")
    return bearer((await login(client, oauth_client, person, "read"))["access_token"])


async def test_media_needs_the_write_media_scope(
    client: httpx.AsyncClient, user: User, reader: dict[str, str], stored_keys: StoredKeys
) -> None:
    keys, rows = await stored_keys(), await media_count(client)
    outside = {"error": "This action is outside the authorized scopes"}
    posted = await client.post(
        UPLOAD, headers=reader, files={"file": ("a.jpg", images.jpeg(), "image/jpeg")}
    )
    assert posted.status_code == 403
    assert posted.json() == outside
    assert await stored_keys() == keys
    assert await media_count(client) == rows

    body = await uploaded(client, user, images.jpeg())
    got = await client.get(f"{MEDIA}/{body['id']}", headers=reader)
    assert got.status_code == 403
    put = await client.put(f"{MEDIA}/{body['id']}", headers=reader, data={"description": "x"})
    assert put.status_code == 403


async def test_media_needs_a_token(client: httpx.AsyncClient) -> None:
    posted = await client.post(UPLOAD, files={"file": ("a.jpg", images.jpeg(), "image/jpeg")})
    assert posted.status_code == 401
    assert posted.json() == {"error": "The access token is invalid"}
    assert (await client.get(f"{MEDIA}/1")).status_code == 401


# -- bad files: a clear 4xx, and nothing left behind -----------------------------------------------


BAD_FILES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "truncated jpeg": (lambda: images.jpeg(1200, 900)[:-4000], "photo.jpg", "damaged or truncated"),
    "text named .jpg": (images.text, "photo.jpg", "is not a JPEG, PNG, WebP, GIF, HEIC or AVIF"),
    "zip": (images.zip_archive, "photos.zip", "is not a JPEG"),
    "svg": (images.svg, "drawing.svg", "is not a JPEG"),
    "header only jpeg": (lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 40, "a.jpg", "could not be read"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
async def test_a_bad_file_is_422_and_leaves_nothing(
    client: httpx.AsyncClient,
    user: User,
    refused: Refused,
    case: str,
) -> None:
    make, filename, message = BAD_FILES[case]
    data = make()

    async def send() -> httpx.Response:
        return await upload(client, user, data, filename=filename, content_type="image/jpeg")

    body = await refused(client, 422, send)
    assert body["error"].startswith("Validation failed: File ")
    assert message in body["error"]
    assert "file" in body["details"]


async def test_an_empty_file_is_422(
    client: httpx.AsyncClient,
    user: User,
    refused: Refused,
) -> None:
    async def send() -> httpx.Response:
        return await upload(client, user, b"")

    body = await refused(client, 422, send)
    assert body["error"] == "Validation failed: File is empty"


async def test_a_missing_file_field_is_422(
    client: httpx.AsyncClient,
    user: User,
    refused: Refused,
) -> None:
    async def multipart_without_file() -> httpx.Response:
        return await client.post(
            UPLOAD, headers=user.auth, files={"description": (None, "no file here")}
        )

    body = await refused(client, 422, multipart_without_file)
    assert body["error"] == "Validation failed: File can't be blank"

    async def empty_body() -> httpx.Response:
        return await client.post(UPLOAD, headers=user.auth)

    await refused(client, 422, empty_body)

    async def text_instead_of_file() -> httpx.Response:
        return await client.post(UPLOAD, headers=user.auth, data={"file": "not a file"})

    body = await refused(client, 422, text_instead_of_file)
    assert "file" in body["details"]


async def test_a_png_claiming_30000_by_30000_is_refused_from_its_header(
    client: httpx.AsyncClient,
    user: User,
    refused: Refused,
) -> None:
    bomb = images.png_claiming(30000, 30000)
    assert len(bomb) < 200

    async def send() -> httpx.Response:
        started = time.perf_counter()
        response = await upload(client, user, bomb, filename="bomb.png", content_type="image/png")
        elapsed = time.perf_counter() - started
        # A sanity bound: decoding 900 megapixels would take many seconds and gigabytes.
        assert elapsed < 1.0, f"took {elapsed:.2f}s"
        return response

    body = await refused(client, 422, send)
    assert "more than 50000000 pixels" in body["error"]


async def test_the_pixel_limit_and_minimum_side_come_from_the_settings(
    make_client: AppFactory,
    user: User,
    refused: Refused,
) -> None:
    strict = await make_client(media_max_pixels=200 * 200, media_min_side=100)
    fits = await upload(strict, user, images.jpeg(200, 200))
    assert fits.status_code == 200, fits.text

    async def too_many() -> httpx.Response:
        return await upload(strict, user, images.jpeg(201, 200))

    body = await refused(strict, 422, too_many)
    assert "more than 40000 pixels" in body["error"]

    async def too_thin() -> httpx.Response:
        return await upload(strict, user, images.jpeg(300, 99))

    body = await refused(strict, 422, too_thin)
    assert "smaller than 100 pixels" in body["error"]


@pytest.fixture
async def small_limit(make_client: AppFactory) -> httpx.AsyncClient:
    """An app that takes files of at most 100 000 bytes."""
    return await make_client(media_size_limit=100_000)


async def test_a_file_just_over_the_limit_is_413(
    small_limit: httpx.AsyncClient,
    user: User,
    refused: Refused,
) -> None:
    # Under the declared-length allowance for the multipart envelope, so the route
    # reads the file, and stops one byte past the limit.
    data = images.jpeg(64, 64) + b"\x00" * 100_000

    async def send() -> httpx.Response:
        return await upload(small_limit, user, data)

    body = await refused(small_limit, 413, send)
    assert body["error"] == "The file is larger than 100000 bytes"

    fits = await upload(small_limit, user, images.jpeg(200, 150))
    assert fits.status_code == 200, fits.text


async def test_a_file_far_over_the_limit_is_413_before_it_is_read(
    small_limit: httpx.AsyncClient,
    user: User,
    refused: Refused,
) -> None:
    """The declared Content-Length decides: the body is not read at all."""
    boundary = "tessera-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk, chunks = b"\xff" * 65536, 320  # 20 MiB of "file"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for part in (head, *([chunk] * chunks), tail):
            sent += len(part)
            yield part

    length = len(head) + len(chunk) * chunks + len(tail)

    async def send() -> httpx.Response:
        return await small_limit.post(
            UPLOAD,
            headers={
                **user.auth,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length),
            },
            content=body(),
        )

    response = await refused(small_limit, 413, send)
    assert response["error"] == "The file is larger than 100000 bytes"
    assert sent <= len(head) + len(chunk), f"{sent} of {length} bytes were read"


# -- advertised limits -----------------------------------------------------------------------------


async def test_the_instance_advertises_the_configured_limits(make_client: AppFactory) -> None:
    custom = await make_client(media_size_limit=12_345_678, media_max_pixels=9_000_000)
    for path in ("/api/v2/instance", "/api/v1/instance"):
        response = await custom.get(path)
        assert response.status_code == 200
        media = response.json()["configuration"]["media_attachments"]
        assert media["image_size_limit"] == 12_345_678
        assert media["image_matrix_limit"] == 9_000_000
        assert media["description_limit"] == 1500
        assert set(media["supported_mime_types"]) == {
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/heic",
            "image/avif",
            "image/gif",
        }


async def test_the_default_limits_are_20_mb_and_50_megapixels(client: httpx.AsyncClient) -> None:
    media = (await client.get("/api/v2/instance")).json()["configuration"]["media_attachments"]
    assert media["image_size_limit"] == 20 * 1024 * 1024
    assert media["image_matrix_limit"] == 50_000_000
