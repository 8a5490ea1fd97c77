"""Sign-up (`POST /api/v1/accounts`) through the HTTP API: success, every refusal, rate limits."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.accounts.helpers import (
    ALL_SCOPES,
    account_count,
    app_token,
    assert_sessions_returned,
    bearer,
    me,
    password_grant,
    register_app,
    sibling,
    sign_up,
    unique_ip,
    unique_prefix,
    web_log_in,
)
from tests.conftest import AppFactory, Backend, MakeUser, OAuthClient, unique_name


def _person(**changes: Any) -> dict[str, Any]:
    username = unique_name("new")
    person: dict[str, Any] = {
        "username": username,
        "email": f"{username}@example.org",
        "password": f"pw-{secrets.token_hex(8)}",
        "agreement": "1",
        "locale": "en",
    }
    return {**person, **changes}


async def _user_count(client: httpx.AsyncClient) -> int:
    response = await client.get("/api/v1/instance")
    assert response.status_code == 200
    count: int = response.json()["stats"]["user_count"]
    return count


@pytest.fixture
async def fresh_client(make_client: AppFactory) -> AsyncIterator[AppFactory]:
    """`make_client`, checking when the test ends that failed requests closed their sessions."""
    made: list[httpx.AsyncClient] = []

    async def factory(**overrides: Any) -> httpx.AsyncClient:
        made.append(await make_client(**overrides))
        return made[-1]

    yield factory
    for client in made:
        await assert_sessions_returned(client)


@pytest.fixture
async def no_new_account(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Fails the test if an account row appeared while it ran."""
    before = await account_count(client)
    yield
    assert await account_count(client) == before


def _refusal(response: httpx.Response, field: str) -> str:
    """The error code a 422 gives for `field`, after checking Mastodon's shape."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"].startswith("Validation failed: ")
    entry = body["details"][field][0]
    assert set(entry) == {"error", "description"}
    assert entry["description"]
    code: str = entry["error"]
    return code


# -- success -------------------------------------------------------------------------------


async def test_sign_up_returns_a_working_token(
    client: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    before = await _user_count(client)
    person = _person()
    response = await sign_up(client, oauth_client.app_token, **person)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"]
    assert set(body["scope"].split()) == set(ALL_SCOPES.split())
    assert body["token_type"] == "Bearer"
    assert isinstance(body["created_at"], int)
    assert await _user_count(client) == before + 1

    profile = await me(client, body["access_token"])
    assert profile.status_code == 200
    assert profile.json()["username"] == person["username"]
    assert profile.json()["acct"] == person["username"]


async def test_new_account_can_log_in_by_username_and_email(
    client: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    person = _person(email=f"{unique_name('Mixed')}@Example.ORG")
    assert (await sign_up(client, oauth_client.app_token, **person)).status_code == 200
    app = await register_app(client)
    for login in (person["username"], person["email"], person["email"].lower()):
        response = await password_grant(client, app, login, person["password"])
        assert response.status_code == 200, login


async def test_sign_up_with_json_and_mastodon_py_extras(
    client: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    person = _person(agreement=True)
    response = await client.post(
        "/api/v1/accounts",
        headers=bearer(oauth_client.app_token),
        json={
            **person,
            "return_detailed_error": "0",
            "client_id": oauth_client.client_id,
            "client_secret": oauth_client.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    assert (await me(client, response.json()["access_token"])).status_code == 200


@pytest.mark.parametrize("agreement", ["1", "true", "True", "on"])
async def test_sign_up_accepts_agreement_spellings(
    client: httpx.AsyncClient, oauth_client: OAuthClient, agreement: str
) -> None:
    response = await sign_up(client, oauth_client.app_token, **_person(agreement=agreement))
    assert response.status_code == 200, response.text


async def test_username_of_thirty_characters_and_password_of_eight_are_accepted(
    client: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    username = ("u" + secrets.token_hex(15))[:30]
    response = await sign_up(
        client,
        oauth_client.app_token,
        **_person(username=username, email=f"{username}@example.org", password="k9$Tq2!x"),
    )
    assert response.status_code == 200, response.text


async def test_sign_up_token_scope_matches_the_app_token(client: httpx.AsyncClient) -> None:
    app = await register_app(client, scopes="read write:accounts")
    token = await app_token(client, app, "write:accounts")
    response = await sign_up(client, token, **_person())
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "write:accounts"


# -- who may sign up -----------------------------------------------------------------------


async def test_sign_up_needs_a_token(client: httpx.AsyncClient, no_new_account: None) -> None:
    response = await client.post("/api/v1/accounts", data=_person())
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}
    bad = await sign_up(client, "not-a-token", **_person())
    assert bad.status_code == 401


async def test_sign_up_when_registrations_are_closed(fresh_client: AppFactory) -> None:
    closed = await fresh_client(registrations_open=False)
    app = await register_app(closed)
    token = await app_token(closed, app, ALL_SCOPES)
    before = await account_count(closed)
    person = _person()
    response = await sign_up(closed, token, **person)
    assert response.status_code == 403
    assert "error" in response.json()
    assert await account_count(closed) == before
    assert (await closed.get("/api/v1/instance")).json()["registrations"] is False
    login = await password_grant(closed, app, person["username"], person["password"])
    assert login.status_code == 400


# -- refusals ------------------------------------------------------------------------------


async def test_username_taken_in_another_case(
    client: httpx.AsyncClient, oauth_client: OAuthClient, make_user: MakeUser
) -> None:
    taken = await make_user("Taken")
    before = await account_count(client)
    response = await sign_up(
        client, oauth_client.app_token, **_person(username=taken.username.upper())
    )
    assert _refusal(response, "username") == "ERR_TAKEN"
    assert await account_count(client) == before


async def test_email_taken_in_another_case(
    client: httpx.AsyncClient, oauth_client: OAuthClient, make_user: MakeUser
) -> None:
    taken = await make_user("mailowner")
    before = await account_count(client)
    response = await sign_up(
        client, oauth_client.app_token, **_person(email=f"  {taken.email.upper()} ")
    )
    assert _refusal(response, "email") == "ERR_TAKEN"
    assert "username" not in response.json()["details"]
    assert await account_count(client) == before
    # The owner's password still logs them in, and nobody else can log in with that address.
    app = await register_app(client)
    login = await password_grant(client, app, taken.email, taken.password)
    assert login.status_code == 200
    assert (await me(client, login.json()["access_token"])).json()["id"] == taken.id


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("with-dash", "ERR_INVALID"),
        ("with space", "ERR_INVALID"),
        (" padded", "ERR_INVALID"),
        ("dot.ted", "ERR_INVALID"),
        ("ünïcödé", "ERR_INVALID"),
        ("x" * 31, "ERR_TOO_LONG"),
        ("", "ERR_BLANK"),
        ("Admin", "ERR_RESERVED"),
    ],
)
async def test_bad_usernames(
    client: httpx.AsyncClient,
    oauth_client: OAuthClient,
    no_new_account: None,
    username: str,
    code: str,
) -> None:
    response = await sign_up(client, oauth_client.app_token, **_person(username=username))
    assert _refusal(response, "username") == code


@pytest.mark.parametrize(
    ("email", "code"),
    [
        ("not-an-email", "ERR_INVALID"),
        ("two@@example.org", "ERR_INVALID"),
        ("no-domain@", "ERR_INVALID"),
        ("user@localhost", "ERR_INVALID"),
        ("sp ace@example.org", "ERR_INVALID"),
        ("", "ERR_BLANK"),
        ("a" * 250 + "@example.org", "ERR_INVALID"),
    ],
)
async def test_bad_emails(
    client: httpx.AsyncClient,
    oauth_client: OAuthClient,
    no_new_account: None,
    email: str,
    code: str,
) -> None:
    response = await sign_up(client, oauth_client.app_token, **_person(email=email))
    assert _refusal(response, "email") == code


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("k9$Tq2!", "ERR_TOO_SHORT"),
        ("", "ERR_TOO_SHORT"),
        ("password123", "ERR_INVALID"),
        ("PASSWORD123", "ERR_INVALID"),
        ("x" * 1025, "ERR_TOO_LONG"),
    ],
)
async def test_bad_passwords(
    client: httpx.AsyncClient,
    oauth_client: OAuthClient,
    no_new_account: None,
    password: str,
    code: str,
) -> None:
    response = await sign_up(client, oauth_client.app_token, **_person(password=password))
    assert _refusal(response, "password") == code


async def test_password_equal_to_the_username(
    client: httpx.AsyncClient, oauth_client: OAuthClient, no_new_account: None
) -> None:
    person = _person()
    response = await sign_up(
        client, oauth_client.app_token, **{**person, "password": person["username"].upper()}
    )
    assert _refusal(response, "password") == "ERR_INVALID"


@pytest.mark.parametrize("agreement", [None, "", "0", "false", "False"])
async def test_agreement_must_be_accepted(
    client: httpx.AsyncClient,
    oauth_client: OAuthClient,
    no_new_account: None,
    agreement: str | None,
) -> None:
    person = _person()
    if agreement is None:
        del person["agreement"]
    else:
        person["agreement"] = agreement
    response = await sign_up(client, oauth_client.app_token, **person)
    assert _refusal(response, "agreement") == "ERR_ACCEPTED"


async def test_every_bad_field_is_reported_at_once(
    client: httpx.AsyncClient, oauth_client: OAuthClient, no_new_account: None
) -> None:
    response = await sign_up(
        client,
        oauth_client.app_token,
        username="bad name",
        email="nope",
        password="short",
    )
    assert response.status_code == 422
    details = response.json()["details"]
    assert {field: entries[0]["error"] for field, entries in details.items()} == {
        "username": "ERR_INVALID",
        "email": "ERR_INVALID",
        "password": "ERR_TOO_SHORT",
        "agreement": "ERR_ACCEPTED",
    }


@pytest.mark.parametrize("shared", ["email", "username"])
async def test_simultaneous_sign_ups_for_the_same_name_or_address(
    client: httpx.AsyncClient, oauth_client: OAuthClient, shared: str
) -> None:
    """Both pass the uniqueness check together; the loser is told which field clashed."""
    first, second = _person(), _person()
    second[shared] = first[shared].upper()
    before = await account_count(client)
    responses = await asyncio.gather(
        sign_up(client, oauth_client.app_token, **first),
        sign_up(client, oauth_client.app_token, **second),
    )
    assert sorted(r.status_code for r in responses) == [200, 422]
    refused = next(r for r in responses if r.status_code == 422)
    assert refused.json()["details"] == {
        shared: [{"error": "ERR_TAKEN", "description": "is already taken"}]
    }
    assert await account_count(client) == before + 1


async def test_a_refused_sign_up_leaves_no_trace(
    client: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    """The name of a refused sign-up is still free, and nobody can log in with it."""
    person = _person()
    refused = await sign_up(client, oauth_client.app_token, **{**person, "agreement": "0"})
    assert refused.status_code == 422
    app = await register_app(client)
    login = await password_grant(client, app, person["username"], person["password"])
    assert login.status_code == 400
    lookup = await client.get("/api/v1/accounts/lookup", params={"acct": person["username"]})
    assert lookup.status_code == 404
    accepted = await sign_up(client, oauth_client.app_token, **person)
    assert accepted.status_code == 200, accepted.text


# -- malformed bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{bad", b"[1, 2]", b'"text"', b"null", b"\xff\xfe"])
async def test_malformed_json_body_is_400(
    client: httpx.AsyncClient, oauth_client: OAuthClient, no_new_account: None, body: bytes
) -> None:
    response = await client.post(
        "/api/v1/accounts",
        headers={**bearer(oauth_client.app_token), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize(
    "changes",
    [
        {"agreement": {"x": 1}},
        {"agreement": [1]},
        {"agreement": "maybe"},
        {"username": ["a", "b"]},
        {"username": None},
        {"email": {"a": "b"}},
        {"password": ["p1", "p2"]},
    ],
)
async def test_wrong_json_types_are_422(
    client: httpx.AsyncClient,
    oauth_client: OAuthClient,
    no_new_account: None,
    changes: dict[str, Any],
) -> None:
    person = _person(agreement=True)
    response = await client.post(
        "/api/v1/accounts",
        headers=bearer(oauth_client.app_token),
        json={**person, **changes},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"].startswith("Validation failed")
    assert body["details"]


async def test_unsupported_content_type_is_refused(
    client: httpx.AsyncClient, oauth_client: OAuthClient, no_new_account: None
) -> None:
    response = await client.post(
        "/api/v1/accounts",
        headers={**bearer(oauth_client.app_token), "Content-Type": "text/plain"},
        content=b"username=x",
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


# -- rate limits ---------------------------------------------------------------------------


# The limiter's sliding window is approximated from fixed windows aligned on the clock; a
# budget spent across a window boundary can let one more request through. Day-long windows
# make that boundary practically unreachable during a test.


def _assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"error": "Too many requests"}
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"])
    now = datetime.now(UTC)
    assert reset.tzinfo is not None
    assert now - timedelta(seconds=5) <= reset <= now + timedelta(days=1, seconds=5)


async def test_sign_up_rate_limit_per_address(fresh_client: AppFactory, backend: Backend) -> None:
    limited = await fresh_client(
        ratelimit_signup="2 per day", redis_prefix=unique_prefix(backend.settings_overrides)
    )
    app = await register_app(limited)
    token = await app_token(limited, app, ALL_SCOPES)
    async with sibling(limited, unique_ip()) as one_place:
        for _ in range(2):
            assert (await sign_up(one_place, token, **_person())).status_code == 200
        before = await account_count(limited)
        person = _person()
        _assert_rate_limited(await sign_up(one_place, token, **person), 2)
        assert await account_count(limited) == before
    async with sibling(limited, unique_ip()) as elsewhere:
        assert (await sign_up(elsewhere, token, **person)).status_code == 200


async def _limited_login_client(factory: AppFactory, backend: Backend) -> httpx.AsyncClient:
    return await factory(
        ratelimit_login="3 per day", redis_prefix=unique_prefix(backend.settings_overrides)
    )


async def test_login_rate_limit_per_address(fresh_client: AppFactory, backend: Backend) -> None:
    limited = await _limited_login_client(fresh_client, backend)
    app = await register_app(limited)
    token = await app_token(limited, app, ALL_SCOPES)
    person = _person()
    assert (await sign_up(limited, token, **person)).status_code == 200
    async with sibling(limited, unique_ip()) as attacker:
        for attempt in range(3):
            wrong = await password_grant(attacker, app, unique_name("guess"), f"wrong-{attempt}")
            assert wrong.status_code == 400
            assert wrong.json()["error"] == "invalid_grant"
        # A fourth try from the same address is refused, even with the right password.
        refused = await password_grant(attacker, app, person["username"], person["password"])
        _assert_rate_limited(refused, 3)
    async with sibling(limited, unique_ip()) as owner:
        ok = await password_grant(owner, app, person["username"], person["password"])
        assert ok.status_code == 200, ok.text


async def test_login_rate_limit_per_account(fresh_client: AppFactory, backend: Backend) -> None:
    limited = await _limited_login_client(fresh_client, backend)
    app = await register_app(limited)
    token = await app_token(limited, app, ALL_SCOPES)
    person = _person()
    assert (await sign_up(limited, token, **person)).status_code == 200
    for attempt in range(3):
        async with sibling(limited, unique_ip()) as bot:
            wrong = await password_grant(bot, app, person["username"], f"wrong-{attempt}")
            assert wrong.status_code == 400
    async with sibling(limited, unique_ip()) as bot:
        # The e-mail address shares the account's budget with the username.
        refused = await password_grant(bot, app, person["email"].upper(), "wrong-again")
        _assert_rate_limited(refused, 3)
        # Other accounts are not locked out from that address.
        other = await password_grant(bot, app, unique_name("other"), "whatever-pass")
        assert other.status_code == 400


async def test_login_rate_limit_covers_the_log_in_page(
    fresh_client: AppFactory, backend: Backend
) -> None:
    """The web app's log-in page (which OAuth authorization uses too) and the password
    grant share one budget per address."""
    limited = await _limited_login_client(fresh_client, backend)
    app = await register_app(limited)
    async with sibling(limited, unique_ip()) as browser:
        grant = await password_grant(browser, app, unique_name("nobody"), "wrong-password")
        assert grant.status_code == 400
        for _ in range(2):
            wrong = await web_log_in(browser, unique_name("nobody"), "wrong-password")
            assert wrong.status_code == 401
        refused = await web_log_in(browser, unique_name("nobody"), "wrong-password")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert "Too many requests" in refused.text
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        _assert_rate_limited(await password_grant(browser, app, "someone", "password1"), 3)
