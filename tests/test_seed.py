"""`tessera seed`, run as the command line runs it, then checked through the API."""

from __future__ import annotations

import asyncio
import re
import secrets
import statistics
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tessera import cli
from tests.accounts.helpers import db, password_grant
from tests.conftest import Backend, FetchMedia, OAuthClient

USERS = 50
POSTS = 200
PASSWORD = re.compile(r"all seeded users have the password (\S+)")


async def stats(client: httpx.AsyncClient) -> dict[str, int]:
    response = await client.get("/api/v1/instance")
    assert response.status_code == 200, response.text
    counts: dict[str, int] = response.json()["stats"]
    return counts


async def all_pages(client: httpx.AsyncClient, path: str, **headers: str) -> list[dict[str, Any]]:
    """Every item of a paginated list, following the Link header's `next`."""
    items: list[dict[str, Any]] = []
    url: str | None = f"{path}?limit=40"
    while url:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page)
        url = response.links.get("next", {}).get("url") if page else None
    return items


async def test_seed_builds_a_consistent_skewed_graph(
    client: httpx.AsyncClient,
    backend: Backend,
    oauth_client: OAuthClient,
    fetch_media: FetchMedia,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = f"t{secrets.token_hex(4)}_"
    before = await stats(client)
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    argv = ["seed", "--users", str(USERS), "--mean-follows", "5", "--posts", str(POSTS)]
    # The command runs its own event loop, as from a shell: give it a thread.
    await asyncio.to_thread(cli.main, [*argv, "--seed", "3", "--prefix", prefix])
    printed = PASSWORD.search(capsys.readouterr().out)
    assert printed is not None
    password = printed.group(1)

    after = await stats(client)
    assert after["user_count"] - before["user_count"] == USERS
    assert after["status_count"] - before["status_count"] == POSTS

    accounts = []
    for index in range(USERS):
        response = await client.get("/api/v1/accounts/lookup", params={"acct": f"{prefix}{index}"})
        assert response.status_code == 200, response.text
        accounts.append(response.json())
    followers = sorted(account["followers_count"] for account in accounts)
    following = [account["following_count"] for account in accounts]
    assert sum(followers) == sum(following) > 0
    assert sum(account["statuses_count"] for account in accounts) == POSTS
    assert followers[-1] >= 3 * statistics.median(followers)

    most_followed = max(accounts, key=lambda account: account["followers_count"])
    listed = await all_pages(client, f"/api/v1/accounts/{most_followed['id']}/followers")
    assert len(listed) == most_followed["followers_count"]
    assert len({account["id"] for account in listed}) == len(listed)
    assert all(account["username"].startswith(prefix) for account in listed)

    reader = max(accounts, key=lambda account: account["following_count"])
    login = await password_grant(client, oauth_client, reader["username"], password)
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    home = await client.get("/api/v1/timelines/home", headers=auth, params={"limit": 40})
    assert home.status_code == 200, home.text
    statuses = home.json()
    assert statuses
    ids = [int(status["id"]) for status in statuses]
    assert ids == sorted(ids, reverse=True)
    assert all(1 <= len(status["media_attachments"]) <= 3 for status in statuses)
    assert all("#" in status["content"] for status in statuses)
    photo = await fetch_media(statuses[0]["media_attachments"][0]["url"])
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"

    # The planner has statistics of what was loaded (without them, a timeline page's
    # photos were found by scanning every row: seconds at 2M posts).
    async with db(client) as session:
        if session.get_bind().dialect.name == "postgresql":
            query = "SELECT count(*) FROM pg_stats WHERE tablename = 'media_attachments'"
        else:
            query = "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'media_attachments'"
        assert await session.scalar(text(query))


async def test_seed_refuses_a_prefix_in_use(
    client: httpx.AsyncClient, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    prefix = f"r{secrets.token_hex(4)}_"
    argv = ["seed", "--users", "2", "--mean-follows", "1", "--posts", "0", "--photos", "1"]
    await asyncio.to_thread(cli.main, [*argv, "--prefix", prefix])
    with pytest.raises(SystemExit, match="exist already"):
        await asyncio.to_thread(cli.main, [*argv, "--prefix", prefix])
