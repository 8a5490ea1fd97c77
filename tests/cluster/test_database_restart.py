"""Fault 5: PostgreSQL restarts under a running `tessera serve`. Requests meanwhile get a
503 with Retry-After (never a 500, never a traceback in the log), and the server
recovers by itself once the database is back.

The database is a private PostgreSQL cluster the test creates, never the shared one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tessera.core.config import load_settings
from tessera.core.db import create_engine, database_unavailable, migrate
from tests.cluster.conftest import SCALED_ONLY, SHUTDOWN_TIMEOUT
from tests.conftest import MakeBackend, User, register_oauth_client, sign_up_user
from tests.postgres import BIN, PrivatePostgres, private_postgres
from tests.processes import serve, stop

pytestmark = [pytest.mark.cluster, SCALED_ONLY]

OUTAGE_REQUESTS = 40
"""Requests made while the database is down, spread over the kinds below."""
RECOVERY_DEADLINE = 20.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    if not (BIN / "initdb").exists():
        message = f"{BIN}/initdb is missing (Debian's postgresql-15)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required because CI=true)")
        print(f"\n{'!' * 78}\n!! SKIPPING THE DATABASE RESTART TESTS: {message}\n{'!' * 78}\n")
        pytest.skip(message)
    with private_postgres() as server:
        yield server


@pytest.fixture
async def server(
    postgres: PrivatePostgres, make_backend: MakeBackend, tmp_path: Path
) -> AsyncIterator[tuple[str, Path]]:
    """`tessera serve` on the private database (Redis and the bucket of a fresh backend)."""
    async with make_backend() as backend:
        overrides = {**backend.settings_overrides, "database_url": postgres.url}
        engine = create_engine(load_settings(**overrides))
        await migrate(engine)
        await engine.dispose()
        env = {
            **os.environ,
            **backend.env,
            "TESSERA_DATABASE_URL": postgres.url,
            "TESSERA_SHUTDOWN_TIMEOUT": SHUTDOWN_TIMEOUT,
        }
        log = tmp_path / "server.log"
        url, process = await asyncio.to_thread(serve, env, log)
        try:
            yield url, log
        finally:
            stop(process)


async def outage_answers(http: httpx.AsyncClient, user: User) -> list[httpx.Response]:
    """Reads and writes that need the database, some with a token the server has cached
    and some with one it must look up."""
    unknown = {"Authorization": "Bearer not-a-token-it-has-seen"}
    kinds = [
        ("GET", "/api/v1/timelines/home", user.auth, None),
        ("GET", f"/api/v1/accounts/{user.id}", None, None),
        ("PATCH", "/api/v1/accounts/update_credentials", user.auth, {"note": "down"}),
        ("GET", "/api/v1/timelines/home", unknown, None),
        ("GET", "/api/v1/timelines/public", None, None),
    ]
    answers = []
    for n in range(OUTAGE_REQUESTS):
        method, path, headers, form = kinds[n % len(kinds)]
        answers.append(await http.request(method, path, headers=headers, data=form))
    return answers


async def test_a_database_restart_is_a_503_with_retry_after_then_recovers(
    server: tuple[str, Path], postgres: PrivatePostgres
) -> None:
    url, log = server
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        app = await register_oauth_client(http)
        user = await sign_up_user(http, app, "outage")
        before = log.read_text()

        await asyncio.to_thread(postgres.stop)
        answers = await outage_answers(http, user)
        ready = await http.get("/health/ready")
        await asyncio.to_thread(postgres.start)

        statuses = [answer.status_code for answer in answers]
        assert set(statuses) == {503}, statuses
        for answer in answers:
            assert answer.headers["retry-after"] == "5"
            assert answer.headers["content-type"].startswith("application/json")
            assert answer.json() == {"error": "The database is unavailable; try again shortly"}
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("error")

        deadline = time.monotonic() + RECOVERY_DEADLINE
        while (
            answer := await http.get("/api/v1/timelines/home", headers=user.auth)
        ).status_code != 200:
            assert answer.status_code == 503, answer.text
            assert time.monotonic() < deadline, "not recovered"
            await asyncio.sleep(0.1)  # a poll interval
        update = await http.patch(
            "/api/v1/accounts/update_credentials", headers=user.auth, data={"note": "back"}
        )
        assert update.status_code == 200, update.text
        account = await http.get(f"/api/v1/accounts/{user.id}")
        assert account.json()["note"] == "<p>back</p>"
        assert (await http.get("/health/ready")).status_code == 200

    during = log.read_text()[len(before) :]
    assert "Traceback" not in during, during
    warnings = [line for line in during.splitlines() if "database unavailable" in line]
    assert len(warnings) >= OUTAGE_REQUESTS, "a line for each request refused"
    assert all(len(line) < 600 for line in warnings), "one short line each"


async def test_only_a_lost_database_counts_as_unavailable(postgres: PrivatePostgres) -> None:
    """A refused statement is a bug (a 500); a connection cut mid-query, or refused, is
    the database being away (a 503)."""
    engine = create_engine(load_settings(database_url=postgres.url))
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as refused_sql:
                await connection.execute(text("SELECT nothing FROM nowhere"))
        assert not database_unavailable(refused_sql.value)

        held = await engine.connect()
        await held.execute(text("SELECT 1"))
        await asyncio.to_thread(postgres.stop)
        with pytest.raises(DBAPIError) as cut:
            await held.execute(text("SELECT 1"))
        assert database_unavailable(cut.value)
        with pytest.raises(DBAPIError) as refused:
            await engine.connect()
        assert database_unavailable(refused.value)
        await held.close()
    finally:
        if not postgres.running():
            await asyncio.to_thread(postgres.start)
        await engine.dispose()
