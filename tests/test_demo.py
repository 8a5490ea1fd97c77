"""`tessera demo`, run as a newcomer runs it, then seen through the API as a demo user."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections import Counter
from typing import Any

import httpx

from tessera.core.config import load_settings
from tessera.demo import DEMO_PASSWORD, PEOPLE, POSTS, run_demo
from tests.accounts.helpers import bearer, password_grant
from tests.conftest import Backend, FetchMedia, OAuthClient
from tests.test_seed import stats


async def get(client: httpx.AsyncClient, path: str, token: str, **params: Any) -> Any:
    response = await client.get(path, headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def log_in(client: httpx.AsyncClient, oauth_client: OAuthClient, username: str) -> str:
    response = await password_grant(client, oauth_client, username, DEMO_PASSWORD)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_demo_fills_a_living_instance_once(
    client: httpx.AsyncClient,
    backend: Backend,
    oauth_client: OAuthClient,
    fetch_media: FetchMedia,
) -> None:
    before = await stats(client)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tessera", "demo"],
        env={**os.environ, **backend.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout
    assert "demo ready" in printed
    for person in PEOPLE:
        assert re.search(rf"^\s+{person.username}\s+{DEMO_PASSWORD}\s", printed, re.MULTILINE)
    comments = sum(len(post.comments) for post in POSTS)
    after = await stats(client)
    assert after["user_count"] - before["user_count"] == len(PEOPLE)
    assert after["status_count"] - before["status_count"] == len(POSTS) + comments

    # Mira logs in with the printed password: her feed is alive with others' photos.
    mira = await log_in(client, oauth_client, "mira")
    home = await get(client, "/api/v1/timelines/home", mira, limit=40)
    photo_posts = [status for status in home if status["media_attachments"]]
    authors = {status["account"]["username"] for status in photo_posts}
    assert {"theo", "june", "rafa", "ada", "lena"} <= authors  # lena: private, mira approved
    assert "sam" not in authors  # mira does not follow sam
    assert max(len(status["media_attachments"]) for status in photo_posts) >= 3
    assert any(status["favourites_count"] and status["replies_count"] for status in photo_posts)
    assert any(status["tags"] and status["mentions"] for status in home)
    photo = photo_posts[0]["media_attachments"][0]
    assert photo["description"]
    assert photo["blurhash"]
    image = await fetch_media(photo["url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    me = await get(client, "/api/v1/accounts/verify_credentials", mira)
    assert me["display_name"] == "Mira Okafor"
    assert me["note"]
    assert "missing" not in me["avatar"]

    # …and so are her notifications: likes, comments and mentions, new followers.
    notifications = await get(client, "/api/v1/notifications", mira, limit=80)
    kinds = Counter(notification["type"] for notification in notifications)
    assert kinds["favourite"] > 0
    assert kinds["mention"] > 0  # comments on her posts, and captions naming her
    assert kinds["follow"] > 0

    # Lena's account is private: sam's request waits for her.
    lena = await log_in(client, oauth_client, "lena")
    pending = await get(client, "/api/v1/follow_requests", lena)
    assert [account["username"] for account in pending] == ["sam"]
    lena_kinds = {n["type"] for n in await get(client, "/api/v1/notifications", lena, limit=80)}
    assert "follow_request" in lena_kinds

    # Once more, in process this time: it is all there already, so nothing changes.
    again = await run_demo(load_settings(**backend.settings_overrides))
    assert not again.changed
    assert "already there" in again.summary()
    assert await stats(client) == after
    assert await get(client, "/api/v1/timelines/home", mira, limit=40) == home
    assert await get(client, "/api/v1/notifications", mira, limit=80) == notifications
    assert await get(client, "/api/v1/follow_requests", lena) == pending
