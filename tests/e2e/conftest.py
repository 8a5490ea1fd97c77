"""Fixtures and steps shared by the end-to-end tests: a real `tessera serve` process on the
test session's database, a registered client app, and people signed up through it."""

from __future__ import annotations

import os
import secrets
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from mastodon import Mastodon

from tests.conftest import Backend

SCOPES = ["read", "write", "follow", "push"]
OOB = "urn:ietf:wg:oauth:2.0:oob"
START_DEADLINE = 60.0
"""Seconds `tessera serve` may take to answer /health/ready (SQLite migrates first)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /health/ready until it answers 200; fail with the server log otherwise."""
    deadline = time.monotonic() + START_DEADLINE
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tessera serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            response = requests.get(f"{url}/health/ready", timeout=2)
            if response.status_code == 200:
                return
            last_error = f"{response.status_code} {response.text}"
        except requests.ConnectionError as exc:
            last_error = repr(exc)
        time.sleep(0.05)  # a poll interval, not a wait for readiness
    pytest.fail(
        f"tessera serve not ready after {START_DEADLINE}s ({last_error}):\n{log.read_text()}"
    )


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a `tessera serve` process on a free port, stopped after the module."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("e2e") / "server.log"
    command = [sys.executable, "-m", "tessera", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **backend.env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
    assert not errors, "the server logged errors:\n" + "\n".join(errors)


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
