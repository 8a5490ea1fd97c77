"""Mastodon.py 2.x against a real `tessera serve` process, used exactly as a client app would.

The server runs in a subprocess on the test session's database (`backend.env`), so these
tests cover what the in-process API tests cannot: the CLI, uvicorn, real HTTP and the wire
format Mastodon.py produces and parses.
"""

from __future__ import annotations

import secrets
from html.parser import HTMLParser

import pytest
import requests
from mastodon import (
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
)

from tests.e2e.conftest import OOB, SCOPES, ClientApp, client, png, sign_up

pytestmark = pytest.mark.e2e


def test_sign_up_log_in_by_username_and_email(server: str, client_app: ClientApp) -> None:
    person = sign_up(server, client_app, "signup")

    for login in (person.username, person.email):
        api = client(server, client_app)
        token = api.log_in(login, person.password, scopes=SCOPES, allow_http=True)
        assert token
        assert api.account_verify_credentials().id == person.id

    with pytest.raises(MastodonIllegalArgumentError):
        client(server, client_app).log_in(person.username, "wrong-password", allow_http=True)


def test_update_credentials_with_avatar(server: str, client_app: ClientApp) -> None:
    person = sign_up(server, client_app, "profile")
    image = png()

    updated = person.api.account_update_credentials(
        display_name="E2E Person",
        note="Photos of things",
        avatar=image,
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
    alice = sign_up(server, client_app, "alice")
    bob = sign_up(server, client_app, "bob")

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
    owner = sign_up(server, client_app, "locked")
    fan = sign_up(server, client_app, "fan")
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
    api = client(server, client_app)

    assert api.retrieve_mastodon_version() is not None
    assert api.verify_minimum_version("4.0.0", cached=True) is True
    v1 = api.instance_v1()
    assert v1.version.startswith("4.")
    assert "streaming_api" in v1.urls
    v2 = api.instance()
    assert v2.configuration.statuses.max_media_attachments == 10


def test_revoked_token_is_refused(server: str, client_app: ClientApp) -> None:
    person = sign_up(server, client_app, "revoke")
    api = client(server, client_app)
    token = api.log_in(person.username, person.password, allow_http=True)
    assert str(api.account_verify_credentials().id) == person.id

    api.revoke_access_token(allow_http=True)

    with pytest.raises(MastodonUnauthorizedError):
        client(server, client_app, token).account_verify_credentials()
    # The account's other token (from sign-up) still works.
    assert str(person.api.account_verify_credentials().id) == person.id


class _FormReader(HTMLParser):
    """Collects a form's hidden inputs and the text of `<code id="code">`."""

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
    """Mastodon.py's authorization URL in a browser: the shared log-in page first, then
    the consent page, then the out-of-band code Mastodon.py trades for a token."""
    person = sign_up(server, client_app, "oauth")
    api = client(server, client_app)
    url = api.auth_request_url(redirect_uris=OOB, scopes=SCOPES, allow_http=True)
    assert url.startswith(f"{server}/oauth/authorize?")

    browser = requests.Session()
    login_page = browser.get(url, timeout=10)  # redirected to /login?next=<that URL>
    assert login_page.status_code == 200, login_page.text
    assert login_page.url.startswith(f"{server}/login?next=")
    hidden = _read(login_page.text).hidden
    assert hidden["csrf_token"]
    assert hidden["next"].startswith("/oauth/authorize?")

    wrong = browser.post(
        f"{server}/login",
        data={**hidden, "login": person.username, "password": "nope"},
        timeout=10,
    )
    assert wrong.status_code == 401
    assert _read(wrong.text).code is None

    consent = browser.post(
        f"{server}/login",
        data={**hidden, "login": person.email, "password": person.password},
        timeout=10,
    )
    assert consent.status_code == 200, consent.text
    assert consent.url.startswith(f"{server}/oauth/authorize?")
    form = _read(consent.text).hidden
    assert form["client_id"] == client_app.client_id

    answer = browser.post(
        f"{server}/oauth/authorize", data={**form, "decision": "approve"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    code = _read(answer.text).code
    assert code

    token = api.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)
    assert token
    assert str(api.account_verify_credentials().id) == person.id
    with pytest.raises(MastodonIllegalArgumentError):
        client(server, client_app).log_in(code=code, allow_http=True)  # codes are single-use


def test_errors_surface_as_mastodon_exceptions(server: str, client_app: ClientApp) -> None:
    person = sign_up(server, client_app, "errors")
    with pytest.raises(MastodonNotFoundError):
        person.api.account("999999999999")
    with pytest.raises(MastodonNotFoundError):
        person.api.account_lookup("nobody_" + secrets.token_hex(4))
    with pytest.raises(MastodonUnauthorizedError):
        client(server, client_app, "not-a-token").account_verify_credentials()
    with pytest.raises(MastodonAPIError):
        person.api.account_follow(person.id)  # following yourself is refused
    with pytest.raises(MastodonIllegalArgumentError):
        client(server, client_app).create_account(
            person.username, "another-password-1", f"x{person.email}", agreement=True
        )
