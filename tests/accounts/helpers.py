"""Shared steps for the OAuth and sign-up tests: apps, logins, the consent page, the database."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import QueuePool

from tessera.accounts.models import Account
from tessera.core.runtime import Runtime
from tests.conftest import OAuthClient, User

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "https://app.example/cb"
ALL_SCOPES = "read write follow push"

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_CODE = re.compile(r'<code id="code">([^<]+)</code>')
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BROWSING = {"Accept": "text/html,application/xhtml+xml"}
"""What a browser sends when it follows a link or a form."""


def app_of(client: httpx.AsyncClient) -> FastAPI:
    """The ASGI app behind a test client (built by `make_client`)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return cast(FastAPI, transport.app)


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = app_of(client).state.runtime
    return runtime


@asynccontextmanager
async def db(client: httpx.AsyncClient) -> AsyncIterator[AsyncSession]:
    """A committed transaction on the database of the app behind `client`."""
    async with runtime_of(client).sessions() as session, session.begin():
        yield session


async def assert_sessions_returned(client: httpx.AsyncClient) -> None:
    """Every request, failed ones included, gave its database connection back."""
    pool = runtime_of(client).engine.pool
    if isinstance(pool, QueuePool):
        assert pool.checkedout() == 0


async def account_count(client: httpx.AsyncClient) -> int:
    async with db(client) as session:
        return (await session.scalar(select(func.count()).select_from(Account))) or 0


@asynccontextmanager
async def sibling(
    client: httpx.AsyncClient, ip: str = "203.0.113.7"
) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser (own cookie jar, own address) talking to the same app."""
    transport = httpx.ASGITransport(app=app_of(client), client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
        yield other


def unique_ip() -> str:
    """A documentation-range address no other test uses, so rate-limit budgets stay apart."""
    return f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def unique_prefix(backend_overrides: dict[str, Any]) -> str:
    """A Redis key prefix inside the test session's one (cleaned up with it)."""
    base = str(backend_overrides.get("redis_prefix", "tessera:"))
    return f"{base}{secrets.token_hex(4)}:"


async def register_app(
    client: httpx.AsyncClient,
    *,
    scopes: str | None = ALL_SCOPES,
    redirect_uris: str = OOB,
    name: str = "Test app",
) -> dict[str, Any]:
    data = {"client_name": name, "redirect_uris": redirect_uris}
    if scopes is not None:
        data["scopes"] = scopes
    response = await client.post("/api/v1/apps", data=data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


App = dict[str, Any] | OAuthClient
"""A registered app: the JSON of POST /api/v1/apps, or the session's `oauth_client`."""


def credentials(app: App) -> dict[str, str]:
    if isinstance(app, OAuthClient):
        return {"client_id": app.client_id, "client_secret": app.client_secret}
    return {"client_id": app["client_id"], "client_secret": app["client_secret"]}


async def token_request(
    client: httpx.AsyncClient,
    app: App,
    grant_type: str,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    """POSTs /oauth/token as a client authenticating in the form (client_secret_post),
    the way most tests talk to the token endpoint; the response is left to the test."""
    return await client.post(
        "/oauth/token",
        headers=headers,
        data={"grant_type": grant_type, **fields, **credentials(app)},
    )


async def app_token(client: httpx.AsyncClient, app: dict[str, Any], scope: str) -> str:
    response = await token_request(client, app, "client_credentials", scope=scope)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def password_grant(
    client: httpx.AsyncClient,
    app: App,
    username: str,
    password: str,
    scope: str | None = ALL_SCOPES,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    """A log-in with the password grant; `scope=None` leaves the field out (the server
    then picks its default)."""
    fields: dict[str, Any] = {"username": username, "password": password, **extra}
    if scope is not None:
        fields["scope"] = scope
    return await token_request(client, app, "password", headers=headers, **fields)


async def login(
    client: httpx.AsyncClient, app: App, user: User, scope: str = ALL_SCOPES
) -> dict[str, Any]:
    """The token body of a password log-in that must succeed: for tests that need a token
    with fewer scopes than the sign-up one."""
    response = await password_grant(client, app, user.username, user.password, scope)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh_grant(
    client: httpx.AsyncClient, app: App, refresh_token: str, **extra: str
) -> httpx.Response:
    """Trades a refresh token for a new pair; the refresh tests check how it is refused."""
    fields: dict[str, Any] = {"refresh_token": refresh_token, **extra}
    return await token_request(client, app, "refresh_token", **fields)


async def revoke(client: httpx.AsyncClient, app: App, token: str) -> httpx.Response:
    """POST /oauth/revoke with the client's credentials in the form."""
    return await client.post("/oauth/revoke", data={"token": token, **credentials(app)})


async def sign_up(client: httpx.AsyncClient, app_token: str, **fields: Any) -> httpx.Response:
    """POST /api/v1/accounts with an app token, as a client app signs someone up."""
    return await client.post("/api/v1/accounts", headers=bearer(app_token), data=fields)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))


def csrf_of(page: str) -> str:
    """The CSRF token a page carries (in its `<meta>` tag, or else in a form)."""
    found = _META.search(page) or _HIDDEN_CSRF.search(page)
    assert found, "the page carries no CSRF token"
    return html.unescape(found.group(1))


async def web_log_in(
    browser: httpx.AsyncClient, login: str, password: str, next_url: str = "/"
) -> httpx.Response:
    """Sends the shared log-in page's form (web app and OAuth authorization alike) as a
    browser does; the answer is left to the test."""
    page = await browser.get("/login", params={"next": next_url}, headers=BROWSING)
    assert page.status_code == 200, page.text
    return await browser.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "login": login,
            "password": password,
            "next": next_url,
        },
        headers=BROWSING,
    )


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the consent form, as a browser would send them back."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def shown_code(page: str) -> str | None:
    found = _CODE.search(page)
    return html.unescape(found.group(1)) if found else None


async def authorize_page(
    browser: httpx.AsyncClient, app: dict[str, Any], *, redirect_uri: str, **params: str
) -> httpx.Response:
    """GETs the authorization (consent) page for a code; the status is left to the test."""
    return await browser.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": redirect_uri,
            **params,
        },
    )


async def open_consent_page(
    browser: httpx.AsyncClient,
    app: dict[str, Any],
    *,
    redirect_uri: str,
    user: User,
    scope: str = ALL_SCOPES,
    **extra: str,
) -> dict[str, str]:
    """Opens the authorization page as a browser does: sent to the shared log-in page
    (when `browser` has no session), logs in as `user`, comes back to the consent page;
    returns the form a browser would submit."""
    response = await authorize_page(browser, app, redirect_uri=redirect_uri, scope=scope, **extra)
    if response.status_code == 303:
        login_page = response.headers["location"]
        assert login_page.startswith("/login?next="), login_page
        next_url = parse_qs(urlsplit(login_page).query)["next"][0]
        logged_in = await web_log_in(browser, user.username, user.password, next_url)
        assert logged_in.status_code == 303, logged_in.text
        assert logged_in.headers["location"] == next_url
        response = await browser.get(next_url)
    assert response.status_code == 200, response.text
    return hidden_fields(response.text)
