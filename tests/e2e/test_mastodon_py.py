"""Mastodon.py 2.x against a real `tessera serve` process, used exactly as a client app would.

The server runs in a subprocess on the test session's database (`backend.env`), so these
tests cover what the in-process API tests cannot: the CLI, uvicorn, real HTTP and the wire
format Mastodon.py produces and parses.
"""

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
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
)

from tests.conftest import Backend

pytestmark = pytest.mark.e2e

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


def _client(server: str, app: ClientApp, token: str | None = None) -> Mastodon:
    return Mastodon(
        client_id=app.client_id,
        client_secret=app.client_secret,
        access_token=token,
        api_base_url=server,
    )


def _sign_up(server: str, app: ClientApp, stem: str) -> Person:
    username = f"{stem}_{secrets.token_hex(4)}"
    email = f"{username}@example.org"
    password = f"pw-{secrets.token_hex(8)}"
    api = _client(server, app)
    token = api.create_account(username, password, email, agreement=True)
    assert isinstance(token, str)
    assert token
    me = api.account_verify_credentials()
    assert me.username == username
    return Person(api, str(me.id), username, email, password)


def _png(width: int = 2, height: int = 2) -> bytes:
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


def test_sign_up_log_in_by_username_and_email(server: str, client_app: ClientApp) -> None:
    person = _sign_up(server, client_app, "signup")

    for login in (person.username, person.email):
        api = _client(server, client_app)
        token = api.log_in(login, person.password, scopes=SCOPES, allow_http=True)
        assert token
        assert api.account_verify_credentials().id == person.id

    with pytest.raises(MastodonIllegalArgumentError):
        _client(server, client_app).log_in(person.username, "wrong-password", allow_http=True)


def test_update_credentials_with_avatar(server: str, client_app: ClientApp) -> None:
    person = _sign_up(server, client_app, "profile")
    png = _png()

    updated = person.api.account_update_credentials(
        display_name="E2E Person",
        note="Photos of things",
        avatar=png,
        avatar_mime_type="image/png",
    )

    assert updated.display_name == "E2E Person"
    assert "Photos of things" in updated.note
    assert updated.source.note == "Photos of things"
    avatar = requests.get(updated.avatar, timeout=10)
    assert avatar.status_code == 200
    # Re-encoded by the media pipeline, metadata stripped.
    assert avatar.headers["content-type"] == "image/jpeg"
    assert avatar.content.startswith(b"\xff\xd8\xff")
    again = person.api.account_verify_credentials()
    assert again.display_name == "E2E Person"
    assert again.avatar == updated.avatar


def test_follow_relationships_lookup_and_lists(server: str, client_app: ClientApp) -> None:
    alice = _sign_up(server, client_app, "alice")
    bob = _sign_up(server, client_app, "bob")

    rel = alice.api.account_follow(bob.id)
    assert rel.following is True
    assert rel.requested is False

    single = alice.api.account_relationships(bob.id)
    assert [(str(r.id), r.following) for r in single] == [(bob.id, True)]
    both = bob.api.account_relationships([alice.id, bob.id])
    assert [str(r.id) for r in both] == [alice.id, bob.id]
    assert both[0].followed_by is True
    assert both[0].following is False

    found = alice.api.account_lookup(bob.username)
    assert str(found.id) == bob.id
    assert found.acct == bob.username

    followers = alice.api.account_followers(bob.id)
    assert [str(a.id) for a in followers] == [alice.id]
    following = bob.api.account_following(alice.id)
    assert [str(a.id) for a in following] == [bob.id]


def test_locked_account_follow_request(server: str, client_app: ClientApp) -> None:
    owner = _sign_up(server, client_app, "locked")
    fan = _sign_up(server, client_app, "fan")
    assert owner.api.account_update_credentials(locked=True).locked is True

    rel = fan.api.account_follow(owner.id)
    assert rel.requested is True
    assert rel.following is False

    pending = owner.api.follow_requests()
    assert [str(a.id) for a in pending] == [fan.id]

    answered = owner.api.follow_request_authorize(fan.id)
    assert answered.followed_by is True
    [now] = fan.api.account_relationships(owner.id)
    assert now.following is True
    assert now.requested is False
    assert owner.api.follow_requests() == []


def test_instance_and_version_detection(server: str, client_app: ClientApp) -> None:
    api = _client(server, client_app)

    assert api.retrieve_mastodon_version() is not None
    assert api.verify_minimum_version("4.0.0", cached=True) is True
    v1 = api.instance_v1()
    assert v1.version.startswith("4.")
    assert "streaming_api" in v1.urls
    v2 = api.instance()
    assert v2.configuration.statuses.max_media_attachments == 10


def test_revoked_token_is_refused(server: str, client_app: ClientApp) -> None:
    person = _sign_up(server, client_app, "revoke")
    api = _client(server, client_app)
    token = api.log_in(person.username, person.password, allow_http=True)
    assert str(api.account_verify_credentials().id) == person.id

    api.revoke_access_token(allow_http=True)

    with pytest.raises(MastodonUnauthorizedError):
        _client(server, client_app, token).account_verify_credentials()
    # The account's other token (from sign-up) still works.
    assert str(person.api.account_verify_credentials().id) == person.id


class _FormReader(HTMLParser):
    """Collects the hidden inputs of the authorize form and the text of `<code id="code">`."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.code: str | None = None
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.hidden[str(attributes["name"])] = attributes.get("value") or ""
        self._in_code = tag == "code" and attributes.get("id") == "code"

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False

    def handle_data(self, data: str) -> None:
        if self._in_code:
            self.code = (self.code or "") + data.strip()


def _read(page: str) -> _FormReader:
    reader = _FormReader()
    reader.feed(page)
    reader.close()
    return reader


def test_authorization_code_flow(server: str, client_app: ClientApp) -> None:
    person = _sign_up(server, client_app, "oauth")
    api = _client(server, client_app)
    url = api.auth_request_url(redirect_uris=OOB, scopes=SCOPES, allow_http=True)
    assert url.startswith(f"{server}/oauth/authorize?")

    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200, page.text
    hidden = _read(page.text).hidden
    assert hidden["client_id"] == client_app.client_id
    assert hidden["csrf_token"]

    wrong = browser.post(
        f"{server}/oauth/authorize",
        data={**hidden, "login": person.username, "password": "nope"},
        timeout=10,
    )
    assert wrong.status_code == 401
    assert _read(wrong.text).code is None

    answer = browser.post(
        f"{server}/oauth/authorize",
        data={**hidden, "login": person.email, "password": person.password},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    code = _read(answer.text).code
    assert code

    token = api.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)
    assert token
    assert str(api.account_verify_credentials().id) == person.id
    with pytest.raises(MastodonIllegalArgumentError):
        _client(server, client_app).log_in(code=code, allow_http=True)  # codes are single-use


def test_errors_surface_as_mastodon_exceptions(server: str, client_app: ClientApp) -> None:
    person = _sign_up(server, client_app, "errors")
    with pytest.raises(MastodonNotFoundError):
        person.api.account("999999999999")
    with pytest.raises(MastodonNotFoundError):
        person.api.account_lookup("nobody_" + secrets.token_hex(4))
    with pytest.raises(MastodonUnauthorizedError):
        _client(server, client_app, "not-a-token").account_verify_credentials()
    with pytest.raises(MastodonAPIError):
        person.api.account_follow(person.id)  # following yourself is refused
    with pytest.raises(MastodonIllegalArgumentError):
        _client(server, client_app).create_account(
            person.username, "another-password-1", f"x{person.email}", agreement=True
        )
