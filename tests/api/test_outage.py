"""A database that cannot be reached: every answer that needs it is a 503 with
Retry-After in Mastodon's error shape, logged in one line, never a 500 with a traceback.
(tests/cluster/test_database_restart.py restarts a real PostgreSQL under a server.)"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND, AppFactory
from tests.processes import free_port

UNAVAILABLE = {"error": "The database is unavailable; try again shortly"}


@pytest.fixture
async def cut_off(make_client: AppFactory, tmp_path: Path) -> httpx.AsyncClient:
    """An app whose database is nowhere: a port nothing listens on, or (SQLite) a file
    in a directory that does not exist."""
    if BACKEND == "scaled":
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'tessera.db'}"
    return await make_client(database_url=url)


@pytest.mark.parametrize(
    ("method", "path", "form"),
    [
        ("GET", "/api/v1/timelines/public", None),
        ("GET", "/api/v1/accounts/verify_credentials", None),
        ("POST", "/api/v1/statuses", {"status": "hello"}),
        (
            "POST",
            "/api/v1/apps",
            {"client_name": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
        ),
    ],
)
async def test_requests_that_need_the_database_get_a_503_with_retry_after(
    cut_off: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    form: dict[str, str] | None,
) -> None:
    """(`caplog` comes after `cut_off`: making an app sets the root log handlers.)"""
    headers = {"Authorization": "Bearer a-token-that-must-be-looked-up"}
    with caplog.at_level(logging.WARNING, logger="tessera.api.app"):
        response = await cut_off.request(method, path, headers=headers, data=form)

    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json() == UNAVAILABLE
    [record] = [r for r in caplog.records if r.name == "tessera.api.app"]
    assert record.getMessage().startswith("database unavailable: OperationalError: ")
    assert "\n" not in record.getMessage()
    assert record.exc_info is None, "one line, no traceback"


async def test_readiness_says_the_database_is_down_and_liveness_does_not(
    cut_off: httpx.AsyncClient,
) -> None:
    ready = await cut_off.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("error: ")
    assert (await cut_off.get("/health/live")).status_code == 200
