"""Test session: a fresh database (SQLite, or PostgreSQL + a Redis prefix when scaled).

`TESSERA_TEST_BACKEND=embedded|scaled` picks the backend; `make test` runs both. With
`CI=true` the scaled backend must be reachable; elsewhere it is skipped, loudly. The scaled
backend stores media in a bucket of a real S3-protocol server (moto's, started here).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from aiobotocore.session import get_session
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from fastapi import FastAPI
from redis.asyncio import Redis

from tessera.accounts import passwords
from tessera.api import create_app
from tessera.core.config import Settings, load_settings
from tessera.core.db import create_engine, migrate
from tests.broker import Names

BACKEND = os.environ.get("TESSERA_TEST_BACKEND", "embedded")
PG_ADMIN_DSN = os.environ.get("TESSERA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TESSERA_TEST_REDIS", "redis://127.0.0.1:6379/0")
GENEROUS = "100000 per minute"
"""Rate limits for the suite, raised through the settings as an operator would."""
S3_REGION = "us-east-1"
S3_KEY = "testing"
"""moto accepts any credentials; these are the conventional ones."""


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    if BACKEND != "scaled":
        return
    missing = [
        name
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if not _reachable("127.0.0.1", port)
    ]
    if not missing:
        return
    message = f"scaled backend unavailable: {', '.join(missing)} not reachable on 127.0.0.1"
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(message + " (required because CI=true)")
    print(f"\n{'!' * 78}\n!! SKIPPING THE SCALED RUN: {message}\n{'!' * 78}\n")
    config.option.markexpr = "scaled_unavailable"


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Argon2id at its cheapest cost for the apps this process runs: hundreds of sign-ups
    and log-ins at the real cost (about 0.1 s of CPU each) would add minutes to a run.
    `tessera serve` processes (tests/e2e, tests/browser) keep the real cost."""
    real = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(CHEAPEST)
    yield
    passwords._hasher = real


@dataclass(frozen=True)
class Backend:
    settings_overrides: dict[str, Any]
    env: dict[str, str]
    """The same configuration as `TESSERA_*` variables, for `tessera serve` processes."""

    @property
    def on_s3(self) -> bool:
        """Whether stored files go to the S3 bucket rather than the data dir."""
        return bool(self.settings_overrides.get("media_storage") == "s3")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a real S3-protocol server (moto's, in a thread) on a free port.

    Started only when a test or the scaled backend asks for it.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        if server._server is not None:
            server._server.server_close()  # stop() leaves the listening socket open


@asynccontextmanager
async def s3_client(endpoint: str) -> AsyncIterator[Any]:
    """An aiobotocore S3 client for the test server, closed on exit."""
    async with get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
    ) as client:
        yield client


async def create_bucket(endpoint: str) -> str:
    """A new, uniquely named bucket on the test server, readable by anyone (as an
    operator sets it up: clients fetch the files straight from it)."""
    bucket = f"tessera-test-{secrets.token_hex(6)}"
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    async with s3_client(endpoint) as client:
        await client.create_bucket(Bucket=bucket)
        await client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read))
    return bucket


MakeBackend = Callable[[], AbstractAsyncContextManager[Backend]]


@pytest.fixture(scope="session")
def make_backend(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> MakeBackend:
    """Makes new, migrated backends of the kind this run tests, each with a data dir (and,
    scaled, a database, Redis prefix and bucket) of its own, removed when its `async with`
    ends: for tests whose processes must see nothing of the rest of the session."""
    endpoint: str | None = request.getfixturevalue("s3_server") if BACKEND == "scaled" else None

    def make() -> AbstractAsyncContextManager[Backend]:
        return _fresh_backend(tmp_path_factory.mktemp("data"), endpoint)

    return make


@pytest.fixture(scope="session")
async def backend(make_backend: MakeBackend) -> AsyncIterator[Backend]:
    async with make_backend() as made:
        yield made


@asynccontextmanager
async def _fresh_backend(data_dir: Path, s3_endpoint: str | None) -> AsyncIterator[Backend]:
    common: dict[str, Any] = {
        "data_dir": data_dir,
        "ratelimit_login": GENEROUS,
        "ratelimit_signup": GENEROUS,
        "ratelimit_api": GENEROUS,
        "secret_key": "test-secret-key",
    }
    if s3_endpoint is None:
        settings = load_settings(**common)
        await _migrate(settings)
        yield Backend(common, _env(common))
        return
    bucket = await create_bucket(s3_endpoint)
    name = f"tessera_test_{secrets.token_hex(6)}"
    prefix = f"tessera-test-{secrets.token_hex(6)}:"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    host = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    overrides = {
        **common,
        "database_url": f"{host}/{name}",
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        "media_storage": "s3",
        "s3_endpoint": s3_endpoint,
        "s3_bucket": bucket,
        "s3_region": S3_REGION,
        "s3_access_key": S3_KEY,
        "s3_secret_key": S3_KEY,
    }
    try:
        await _migrate(load_settings(**overrides))
        yield Backend(overrides, _env(overrides))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def _env(overrides: dict[str, Any]) -> dict[str, str]:
    return {f"TESSERA_{key.upper()}": str(value) for key, value in overrides.items()}


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings)
    await migrate(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def broker() -> AsyncIterator[Names]:
    """Exchange names on the local RabbitMQ, deleted (with their queues) after the session.

    With `CI=true` RabbitMQ is required; elsewhere the tests using it are skipped, loudly.
    """
    if not _reachable("127.0.0.1", 5672):
        message = "RabbitMQ not reachable on 127.0.0.1:5672"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required because CI=true)")
        print(f"\n{'!' * 78}\n!! SKIPPING THE BROKER TESTS: {message}\n{'!' * 78}\n")
        pytest.skip(message)
    names = Names()
    yield names
    await names.cleanup()


AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="session")
async def make_client(backend: Backend) -> AsyncIterator[AppFactory]:
    """Builds an app with extra settings (e.g. tight rate limits) and a client for it."""
    opened: list[tuple[FastAPI, httpx.AsyncClient, Any]] = []

    async def factory(**overrides: Any) -> httpx.AsyncClient:
        settings = load_settings(**{**backend.settings_overrides, **overrides})
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        client = httpx.AsyncClient(transport=transport, base_url="http://tessera.test")
        opened.append((app, client, lifespan))
        return client

    yield factory
    for _, client, lifespan in reversed(opened):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture(scope="session")
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client()


@pytest.fixture(scope="session")
def data_dir(backend: Backend) -> Path:
    path: Path = backend.settings_overrides["data_dir"]
    return path


StoredKeys = Callable[[], Awaitable[set[str]]]


@pytest.fixture(scope="session")
async def stored_keys(backend: Backend) -> AsyncIterator[StoredKeys]:
    """Lists the keys of every stored file, whichever driver the backend uses.

    Locally that is every file under `<data dir>/media` (half-written ones included).
    """
    overrides = backend.settings_overrides
    if not backend.on_s3:
        root = Path(overrides["data_dir"]) / "media"

        async def local_keys() -> set[str]:
            if not root.exists():
                return set()
            return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}

        yield local_keys
        return
    async with s3_client(overrides["s3_endpoint"]) as s3:

        async def bucket_keys() -> set[str]:
            keys: set[str] = set()
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=overrides["s3_bucket"])
            async for page in pages:
                keys.update(item["Key"] for item in page.get("Contents", []))
            return keys

        yield bucket_keys


FetchMedia = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture(scope="session")
async def fetch_media(client: httpx.AsyncClient) -> AsyncIterator[FetchMedia]:
    """GETs a stored file's URL: from the app (local driver) or over the network (S3)."""
    async with httpx.AsyncClient() as network:

        async def fetch(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
            if url.startswith(str(client.base_url)):
                return await client.get(urlsplit(url).path, headers=headers)
            return await network.get(url, headers=headers)

        yield fetch


@pytest.fixture(scope="session")
def media_url_prefix(backend: Backend) -> str:
    """How the URLs of stored files start, for the default client."""
    overrides = backend.settings_overrides
    if backend.on_s3:
        return f"{overrides['s3_endpoint']}/{overrides['s3_bucket']}/"
    return "http://tessera.test/media/"


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    app_token: str


@dataclass
class User:
    id: str
    username: str
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


SCOPES = "read write follow push"


@pytest.fixture(scope="session")
async def oauth_client(client: httpx.AsyncClient) -> OAuthClient:
    return await register_oauth_client(client)


async def register_oauth_client(client: httpx.AsyncClient) -> OAuthClient:
    """Registers an app (all scopes) through the API `client` talks to, with an app token."""
    app = (
        await client.post(
            "/api/v1/apps",
            data={
                "client_name": "tests",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": SCOPES,
            },
        )
    ).json()
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": SCOPES,
        },
    )
    return OAuthClient(app["client_id"], app["client_secret"], token.json()["access_token"])


def unique_name(stem: str = "user") -> str:
    return f"{stem}_{secrets.token_hex(4)}"


MakeUser = Callable[..., Awaitable[User]]


async def sign_up_user(
    client: httpx.AsyncClient,
    oauth_client: OAuthClient,
    stem: str = "user",
    *,
    locked: bool = False,
) -> User:
    """Signs a new person up through the API `client` talks to; returns their token."""
    username = unique_name(stem)
    email = f"{username}@example.org"
    password = f"pw-{secrets.token_hex(8)}"
    response = await client.post(
        "/api/v1/accounts",
        headers={"Authorization": f"Bearer {oauth_client.app_token}"},
        data={
            "username": username,
            "email": email,
            "password": password,
            "agreement": "1",
            "locale": "en",
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = await client.get(
        "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}
    )
    user = User(me.json()["id"], username, email, password, token)
    if locked:
        update = await client.patch(
            "/api/v1/accounts/update_credentials", headers=user.auth, data={"locked": "1"}
        )
        assert update.status_code == 200, update.text
    return user


@pytest.fixture(scope="session")
def make_user(client: httpx.AsyncClient, oauth_client: OAuthClient) -> MakeUser:
    """Signs a new person up through the API and returns their token."""

    async def factory(stem: str = "user", *, locked: bool = False) -> User:
        return await sign_up_user(client, oauth_client, stem, locked=locked)

    return factory
