"""Fixtures and steps shared by the end-to-end tests: a real `tessera serve` process on the
test session's database, a registered client app, and people signed up through it."""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mastodon import Mastodon

from tests.conftest import Backend
from tests.processes import serve, stop

SCOPES = ["read", "write", "follow", "push"]
OOB = "urn:ietf:wg:oauth:2.0:oob"


@contextmanager
def serving(backend: Backend, log: Path) -> Iterator[str]:
    """The base URL of a `tessera serve` process on the backend, stopped on exit; then
    fails if the server logged an error."""
    url, process = serve({**os.environ, **backend.env}, log)
    try:
        yield url
    finally:
        stop(process)
    errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
    assert not errors, "the server logged errors:\n" + "\n".join(errors)


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a `tessera serve` process on a free port, stopped after the module."""
    with serving(backend, tmp_path_factory.mktemp("e2e") / "server.log") as url:
        yield url


@dataclass(frozen=True)
class ClientApp:
    client_id: str
    client_secret: str


@pytest.fixture(scope="module")
def client_app(server: str) -> ClientApp:
    client_id, client_secret = Mastodon.create_app("e2e", api_base_url=server, scopes=SCOPES)
    assert client_id
    assert client_secret
    return ClientApp(client_id, client_secret)


@dataclass
class Person:
    api: Mastodon
    id: str
    username: str
    email: str
    password: str


def client(server: str, app: ClientApp, token: str | None = None) -> Mastodon:
    return Mastodon(
        client_id=app.client_id,
        client_secret=app.client_secret,
        access_token=token,
        api_base_url=server,
    )


def sign_up(server: str, app: ClientApp, stem: str) -> Person:
    username = f"{stem}_{secrets.token_hex(4)}"
    email = f"{username}@example.org"
    password = f"pw-{secrets.token_hex(8)}"
    api = client(server, app)
    token = api.create_account(username, password, email, agreement=True)
    assert isinstance(token, str)
    assert token
    me = api.account_verify_credentials()
    assert me.username == username
    return Person(api, str(me.id), username, email, password)


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid RGB PNG, built by hand so the suite needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
