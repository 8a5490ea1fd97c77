"""Instance metadata, which every Mastodon client reads first (v1 and v2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tessera import __version__
from tests.conftest import MakeUser

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}


async def get_json(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("path", ["/api/v1/instance", "/api/v1/instance/"])
async def test_v1_instance(client: httpx.AsyncClient, path: str) -> None:
    body = await get_json(client, path)
    assert body["version"].startswith("4.0.0 (compatible; Tessera")
    assert body["version"] == f"4.0.0 (compatible; Tessera {__version__})"
    assert body["uri"] == "tessera.test"
    assert isinstance(body["urls"], dict)
    assert body["urls"]["streaming_api"] == "ws://tessera.test"
    assert isinstance(body["title"], str)
    assert isinstance(body["registrations"], bool)
    statuses = body["configuration"]["statuses"]
    assert statuses["max_media_attachments"] == 10
    assert statuses["max_characters"] == 2200
    media = body["configuration"]["media_attachments"]
    assert set(media["supported_mime_types"]) >= IMAGE_TYPES
    assert all(kind.startswith("image/") for kind in media["supported_mime_types"])
    assert isinstance(media["image_size_limit"], int)
    stats = body["stats"]
    assert all(isinstance(stats[key], int) for key in ("user_count", "status_count"))
    assert isinstance(body["rules"], list)


async def test_no_redirect_for_the_trailing_slash(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/instance/", "/api/v2/instance/"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 200, path


async def test_v1_counts_users(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    before = (await get_json(client, "/api/v1/instance"))["stats"]["user_count"]
    assert before >= 0
    await make_user("counted")
    await make_user("counted")
    after = (await get_json(client, "/api/v1/instance/"))["stats"]["user_count"]
    assert after == before + 2


@pytest.mark.parametrize("path", ["/api/v2/instance", "/api/v2/instance/"])
async def test_v2_instance(client: httpx.AsyncClient, path: str) -> None:
    body = await get_json(client, path)
    assert body["version"].startswith("4.0.0 (compatible; Tessera")
    assert body["domain"] == "tessera.test"
    configuration = body["configuration"]
    assert configuration["statuses"]["max_media_attachments"] == 10
    assert configuration["statuses"]["max_characters"] == 2200
    assert configuration["urls"]["streaming"] == "ws://tessera.test"
    assert set(configuration["media_attachments"]["supported_mime_types"]) >= IMAGE_TYPES
    assert configuration["translation"]["enabled"] is False
    assert isinstance(body["registrations"]["enabled"], bool)
    assert isinstance(body["usage"]["users"]["active_month"], int)
    assert body["thumbnail"]["url"].startswith("http://tessera.test/")
    assert isinstance(body["contact"], dict)
    assert isinstance(body["rules"], list)


async def test_v1_and_v2_agree(client: httpx.AsyncClient) -> None:
    v1 = await get_json(client, "/api/v1/instance")
    v2 = await get_json(client, "/api/v2/instance")
    assert v1["version"] == v2["version"]
    assert v1["configuration"]["statuses"] == v2["configuration"]["statuses"]
    assert v1["registrations"] == v2["registrations"]["enabled"]


async def test_closed_registrations_are_advertised(make_client: Any) -> None:
    closed: httpx.AsyncClient = await make_client(registrations_open=False)
    assert (await get_json(closed, "/api/v1/instance"))["registrations"] is False
    assert (await get_json(closed, "/api/v2/instance"))["registrations"]["enabled"] is False


async def test_a_public_url_wins_over_the_request_host(make_client: Any) -> None:
    public: httpx.AsyncClient = await make_client(public_url="https://photos.example/")
    v1 = await get_json(public, "/api/v1/instance")
    assert v1["uri"] == "photos.example"
    assert v1["urls"]["streaming_api"] == "wss://photos.example"
    v2 = await get_json(public, "/api/v2/instance")
    assert v2["domain"] == "photos.example"
    assert v2["configuration"]["urls"]["streaming"] == "wss://photos.example"


async def test_the_small_extras_answer_with_empty_lists(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/instance/rules", "/api/v1/custom_emojis"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json() == []


async def test_instance_needs_no_token_but_ignores_a_valid_one(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("inst")
    response = await client.get("/api/v1/instance", headers=user.auth)
    assert response.status_code == 200
    assert response.json()["version"].startswith("4.0.0")
