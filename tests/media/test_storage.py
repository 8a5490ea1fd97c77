"""The storage contract, run against both drivers: a local directory and a real S3 server."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tessera.core.config import load_settings
from tessera.core.storage import LocalStorage, S3Storage, Storage, content_key, open_storage
from tests.conftest import S3_KEY, create_bucket

KEY_SHAPE = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})\.(jpg|webp)$")
BASE = "http://tessera.test"


@dataclass
class Driver:
    storage: Storage
    read: Callable[[str], Awaitable[bytes | None]]
    """The bytes stored under a key, or None when there are none."""
    content_type: Callable[[str], Awaitable[str]]


@pytest.fixture(scope="module")
async def s3_bucket(s3_server: str) -> str:
    """A bucket of its own, so these tests see only their own objects."""
    return await create_bucket(s3_server)


@pytest.fixture(params=["local", "s3"])
async def driver(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: str, s3_bucket: str
) -> AsyncIterator[Driver]:
    if request.param == "local":
        local = LocalStorage(tmp_path / "media", None)

        async def read_file(key: str) -> bytes | None:
            path = local.path(key)
            return path.read_bytes() if path.exists() else None

        async def no_type(key: str) -> str:
            return ""  # the web server decides from the extension

        yield Driver(local, read_file, no_type)
        await local.close()
        return

    settings = load_settings(
        data_dir=tmp_path,
        media_storage="s3",
        s3_endpoint=s3_server,
        s3_bucket=s3_bucket,
        s3_access_key=S3_KEY,
        s3_secret_key=S3_KEY,
    )
    s3 = open_storage(settings)
    assert isinstance(s3, S3Storage)
    async with httpx.AsyncClient() as network:

        async def read_object(key: str) -> bytes | None:
            response = await network.get(s3.url(key, BASE))
            if response.status_code in (403, 404):
                return None
            assert response.status_code == 200, response.text
            return response.content

        async def object_type(key: str) -> str:
            response = await network.get(s3.url(key, BASE))
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            return response.headers["content-type"]

        yield Driver(s3, read_object, object_type)
        await s3.close()


def files_below(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def photo_bytes() -> bytes:
    return b"\xff\xd8\xff" + secrets.token_bytes(2048)


async def test_put_then_read_back(driver: Driver) -> None:
    data = photo_bytes()
    key = content_key(b"secret", data, "jpg")
    assert await driver.read(key) is None
    await driver.storage.put(key, data, "image/jpeg")
    assert await driver.read(key) == data
    assert await driver.content_type(key) in ("", "image/jpeg")


async def test_putting_the_same_key_twice_is_harmless(driver: Driver) -> None:
    data = photo_bytes()
    key = content_key(b"secret", data, "jpg")
    await driver.storage.put(key, data, "image/jpeg")
    await driver.storage.put(key, data, "image/jpeg")
    assert await driver.read(key) == data


async def test_delete_removes_only_what_it_names(driver: Driver) -> None:
    first, second = photo_bytes(), photo_bytes()
    first_key = content_key(b"secret", first, "jpg")
    second_key = content_key(b"secret", second, "webp")
    await driver.storage.put(first_key, first, "image/jpeg")
    await driver.storage.put(second_key, second, "image/webp")

    await driver.storage.delete(first_key)
    assert await driver.read(first_key) is None
    assert await driver.read(second_key) == second

    await driver.storage.delete(first_key)  # already gone: no error
    await driver.storage.delete()  # nothing at all: no error
    await driver.storage.delete(second_key, content_key(b"secret", b"never stored", "jpg"))
    assert await driver.read(second_key) is None


async def test_a_url_names_the_key(driver: Driver) -> None:
    key = content_key(b"secret", photo_bytes(), "jpg")
    url = driver.storage.url(key, BASE)
    assert url.startswith("http")
    assert url.endswith(f"/{key}")


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_cdn_prefix_replaces_the_origin(kind: str, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        media_storage=kind,
        s3_bucket="photos",
        media_base_url="https://cdn.example/media/",
    )
    key = content_key(b"secret", b"data", "jpg")
    assert open_storage(settings).url(key, BASE) == f"https://cdn.example/media/{key}"


def test_local_urls_are_served_by_tessera_itself(tmp_path: Path) -> None:
    storage = open_storage(load_settings(data_dir=tmp_path))
    assert isinstance(storage, LocalStorage)
    assert storage.url("ab/cd/x.jpg", BASE) == f"{BASE}/media/ab/cd/x.jpg"


def test_s3_without_an_endpoint_points_at_the_aws_bucket_host(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, media_storage="s3", s3_bucket="photos", s3_region="eu-west-3"
    )
    key = "ab/cd/x.jpg"
    assert open_storage(settings).url(key, BASE) == (
        f"https://photos.s3.eu-west-3.amazonaws.com/{key}"
    )


async def test_local_writes_leave_no_partial_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, None)
    data = photo_bytes()
    key = content_key(b"secret", data, "jpg")
    await storage.put(key, data, "image/jpeg")
    assert files_below(tmp_path) == [key]


# -- keys -----------------------------------------------------------------------------------------


def test_keys_are_content_addressed_and_fanned_out() -> None:
    data = photo_bytes()
    key = content_key(b"secret", data, "jpg")
    assert content_key(b"secret", data, "jpg") == key
    match = KEY_SHAPE.match(key)
    assert match is not None, key
    assert match.group(3).startswith(match.group(1) + match.group(2))
    assert content_key(b"secret", photo_bytes(), "jpg") != key
    assert content_key(b"secret", data, "webp") == key.removesuffix(".jpg") + ".webp"


def test_keys_cannot_be_guessed_without_the_secret() -> None:
    data = photo_bytes()
    key = content_key(b"secret", data, "jpg")
    assert content_key(b"another secret", data, "jpg") != key
    assert hashlib.sha256(data).hexdigest() not in key
