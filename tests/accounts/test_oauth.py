"""OAuth 2 through the HTTP API: apps, the token endpoint, the consent page, revocation."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import update

from tessera.accounts.models import AuthorizationCode, Token
from tessera.core.db import utcnow
from tests.accounts.helpers import (
    ALL_SCOPES,
    CALLBACK,
    OOB,
    app_token,
    authorize_page,
    bearer,
    credentials,
    db,
    hidden_fields,
    me,
    open_consent_page,
    password_grant,
    refresh_grant,
    register_app,
    revoke,
    shown_code,
    sibling,
    token_request,
    web_log_in,
)
from tests.conftest import AppFactory, MakeUser, OAuthClient, User

INVALID_TOKEN = {"error": "The access token is invalid"}

# -- POST /api/v1/apps ---------------------------------------------------------------------


async def test_create_app_with_a_form_returns_credentials(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/apps",
        data={
            "client_name": "Form app",
            "redirect_uris": OOB,
            "scopes": ALL_SCOPES,
            "website": "https://app.example",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Form app"
    assert body["website"] == "https://app.example"
    assert body["scopes"] == ["read", "write", "follow", "push"]
    assert body["redirect_uris"] == [OOB]
    assert body["redirect_uri"] == OOB
    assert isinstance(body["id"], str)
    assert body["client_id"]
    assert body["client_secret"]
    assert body["client_id"] != body["client_secret"]
    assert body["client_secret_expires_at"] == 0


async def test_create_app_with_json_and_an_array_of_redirect_uris(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/apps",
        json={
            "client_name": "JSON app",
            "redirect_uris": [CALLBACK, OOB],
            "scopes": "read write",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["redirect_uris"] == [CALLBACK, OOB]
    assert body["redirect_uri"] == f"{CALLBACK}\n{OOB}"
    assert body["scopes"] == ["read", "write"]


async def test_create_app_with_newline_separated_redirect_uris(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/apps",
        data={"client_name": "Lines", "redirect_uris": f"{CALLBACK}\nmyapp://oauth\n"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["redirect_uris"] == [CALLBACK, "myapp://oauth"]


async def test_create_app_with_bracketed_redirect_uris_array(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/apps",
        data={"client_name": "Brackets", "redirect_uris[]": [CALLBACK, "myapp://oauth"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["redirect_uris"] == [CALLBACK, "myapp://oauth"]


async def test_create_app_defaults_to_the_read_scope(client: httpx.AsyncClient) -> None:
    app = await register_app(client, scopes=None)
    assert app["scopes"] == ["read"]


async def test_create_app_rejects_an_unknown_scope(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/apps",
        data={"client_name": "Bad", "redirect_uris": OOB, "scopes": "read admin:everything"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"].startswith("Validation failed")
    assert body["details"]["scopes"][0]["error"] == "ERR_INVALID"


async def test_create_app_requires_a_client_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/apps", data={"redirect_uris": OOB})
    assert response.status_code == 422
    assert response.json()["details"]["client_name"][0]["error"] == "ERR_BLANK"


async def test_create_app_requires_a_redirect_uri(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/apps", data={"client_name": "No uri"})
    assert response.status_code == 422
    assert response.json()["details"]["redirect_uris"][0]["error"] == "ERR_BLANK"


async def test_create_app_rejects_a_relative_redirect_uri(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/apps", data={"client_name": "Relative", "redirect_uris": "/callback"}
    )
    assert response.status_code == 422
    assert response.json()["details"]["redirect_uris"][0]["error"] == "ERR_INVALID"


async def test_verify_app_credentials_with_app_and_user_tokens(
    client: httpx.AsyncClient, oauth_client: OAuthClient, make_user: MakeUser
) -> None:
    response = await client.get(
        "/api/v1/apps/verify_credentials", headers=bearer(oauth_client.app_token)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "tests"
    assert body["scopes"] == ["read", "write", "follow", "push"]
    assert "client_secret" not in body
    assert "client_id" not in body

    user = await make_user("appcheck")
    as_user = await client.get("/api/v1/apps/verify_credentials", headers=user.auth)
    assert as_user.status_code == 200
    assert as_user.json()["name"] == "tests"


async def test_verify_app_credentials_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/apps/verify_credentials")
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


# -- discovery -----------------------------------------------------------------------------


async def test_authorization_server_metadata(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.json()
    base = "http://tessera.test"
    assert body["issuer"] == base + "/"
    assert body["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert body["token_endpoint"] == f"{base}/oauth/token"
    assert body["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert body["app_registration_endpoint"] == f"{base}/api/v1/apps"
    assert body["response_types_supported"] == ["code"]
    assert {"authorization_code", "password", "client_credentials", "refresh_token"} <= set(
        body["grant_types_supported"]
    )
    assert set(body["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert {"read", "write", "follow", "push", "read:accounts", "write:accounts"} <= set(
        body["scopes_supported"]
    )


# -- POST /oauth/token ---------------------------------------------------------------------


async def test_client_credentials_grant_gives_an_app_token(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    response = await token_request(client, app, "client_credentials", scope="read write")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "read write"
    assert isinstance(body["created_at"], int)
    assert "refresh_token" not in body
    verify = await client.get(
        "/api/v1/apps/verify_credentials", headers=bearer(body["access_token"])
    )
    assert verify.status_code == 200
    assert verify.json()["name"] == app["name"]


async def test_password_grant_by_username_echoes_the_scope(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("pwgrant")
    app = await register_app(client)
    response = await password_grant(client, app, user.username.upper(), user.password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "read write follow push"
    assert body["token_type"] == "Bearer"
    assert isinstance(body["created_at"], int)
    assert body["refresh_token"]
    verify = await me(client, body["access_token"])
    assert verify.status_code == 200
    assert verify.json()["id"] == user.id


async def test_password_grant_by_email_is_case_insensitive(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("pwmail")
    app = await register_app(client)
    response = await password_grant(client, app, user.email.upper(), user.password, "write read")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "write read"
    verify = await me(client, response.json()["access_token"])
    assert verify.json()["username"] == user.username


async def test_password_grant_defaults_to_read(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("pwdefault")
    app = await register_app(client)
    response = await password_grant(client, app, user.username, user.password, scope=None)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


async def test_password_grant_with_a_wrong_password(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("pwwrong")
    app = await register_app(client)
    response = await password_grant(client, app, user.username, user.password + "x")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["error_description"]
    assert "access_token" not in body


async def test_password_grant_for_an_unknown_user(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    response = await password_grant(client, app, "nobody_at_all_here", "whatever-password")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_password_grant_requires_username_and_password(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    response = await token_request(client, app, "password", scope="read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_token_endpoint_rejects_a_wrong_client_secret(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("badsecret")
    app = await register_app(client)
    for secret in (app["client_secret"] + "x", ""):
        wrong = {**app, "client_secret": secret}
        response = await password_grant(client, wrong, user.username, user.password, None)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


async def test_token_endpoint_rejects_an_unknown_client(client: httpx.AsyncClient) -> None:
    unknown = {"client_id": "no-such-client", "client_secret": "nope"}
    response = await token_request(client, unknown, "client_credentials")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_token_endpoint_rejects_an_unsupported_grant(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    for grant in ("implicit", ""):
        response = await token_request(client, app, grant)
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_grant_type"


async def test_token_endpoint_rejects_a_scope_the_app_lacks(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("narrow")
    app = await register_app(client, scopes="read")
    response = await password_grant(client, app, user.username, user.password, "read write")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    response = await token_request(client, app, "client_credentials", scope="write")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    unknown = await password_grant(client, app, user.username, user.password, "read bogus")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_scope"


async def test_token_endpoint_ignores_a_bearer_header(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Mastodon.py sends its current token on a second log_in()."""
    user = await make_user("bearerlogin")
    app = await register_app(client)
    for header in (user.token, "not-a-token-at-all"):
        response = await password_grant(
            client, app, user.username, user.password, headers=bearer(header)
        )
        assert response.status_code == 200, response.text


async def test_token_endpoint_accepts_client_secret_basic(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("basicauth")
    app = await register_app(client)
    response = await client.post(
        "/oauth/token",
        auth=(app["client_id"], app["client_secret"]),
        data={
            "grant_type": "password",
            "username": user.username,
            "password": user.password,
            "scope": "read",
        },
    )
    assert response.status_code == 200, response.text
    assert (await me(client, response.json()["access_token"])).status_code == 200

    wrong = await client.post(
        "/oauth/token",
        auth=(app["client_id"], "wrong-secret"),
        data={"grant_type": "client_credentials"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


async def test_token_endpoint_rejects_malformed_basic_credentials(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/oauth/token",
        headers={"Authorization": "Basic %%%not-base64%%%"},
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_token_endpoint_ignores_mastodon_py_junk_fields(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("junk")
    app = await register_app(client)
    response = await password_grant(
        client,
        app,
        user.username,
        user.password,
        redirect_uri=OOB,
        oauth_info=["issuer", "authorization_endpoint", "token_endpoint"],
        lang="None",
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == ALL_SCOPES


async def test_token_endpoint_accepts_json(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    response = await client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials", "scope": "read", **credentials(app)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


async def test_refresh_token_grant_rotates_the_pair(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("refresh")
    app = await register_app(client)
    first = (await password_grant(client, app, user.username, user.password)).json()
    # Use the token once, so the scaled backend has it in its cache.
    assert (await me(client, first["access_token"])).status_code == 200

    response = await refresh_grant(
        client, app, first["refresh_token"], redirect_uri=OOB, scope=ALL_SCOPES
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["scope"] == ALL_SCOPES
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"]
    assert second["refresh_token"] != first["refresh_token"]

    assert (await me(client, second["access_token"])).json()["id"] == user.id
    old = await me(client, first["access_token"])
    assert old.status_code == 401
    assert old.json() == INVALID_TOKEN

    again = await refresh_grant(client, app, first["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_refresh_token_can_narrow_but_not_widen_the_scope(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("narrowref")
    app = await register_app(client)
    first = (await password_grant(client, app, user.username, user.password, "read")).json()
    wider = await refresh_grant(client, app, first["refresh_token"], scope="read write")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"
    # The failed attempt did not burn the refresh token.
    same = await refresh_grant(client, app, first["refresh_token"])
    assert same.status_code == 200, same.text
    assert same.json()["scope"] == "read"


async def test_refresh_token_of_another_app_is_rejected(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("refother")
    mine, theirs = await register_app(client), await register_app(client)
    first = (await password_grant(client, mine, user.username, user.password)).json()
    response = await refresh_grant(client, theirs, first["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert (await me(client, first["access_token"])).status_code == 200


# -- the authorization code flow -----------------------------------------------------------
# The consent page is the web app's: a browser without a session is sent to the shared
# log-in page first (the web tests cover that page itself), then asked to approve.


async def _callback_app(client: httpx.AsyncClient, scopes: str = ALL_SCOPES) -> dict[str, Any]:
    return await register_app(client, scopes=scopes, redirect_uris=f"{CALLBACK}\n{OOB}")


async def _submit(
    browser: httpx.AsyncClient, form: dict[str, str], **changes: str
) -> httpx.Response:
    return await browser.post("/oauth/authorize", data={**form, "decision": "approve", **changes})


def _query(location: str) -> dict[str, list[str]]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return parse_qs(parts.query)


async def _code(client: httpx.AsyncClient, app: dict[str, Any], user: User, **extra: str) -> str:
    """A fresh authorization code for `user`, through the log-in and consent pages."""
    async with sibling(client) as browser:
        form = await open_consent_page(browser, app, redirect_uri=CALLBACK, user=user, **extra)
        response = await _submit(browser, form)
    assert response.status_code == 303, response.text
    return _query(response.headers["location"])["code"][0]


async def _exchange(
    client: httpx.AsyncClient, app: dict[str, Any], code: str, **extra: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "scope": ALL_SCOPES,
        **credentials(app),
        **extra,
    }
    return await client.post("/oauth/token", data={k: v for k, v in data.items() if v})


async def test_authorize_sends_a_browser_without_a_session_to_the_log_in_page(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("authlogin")
    app = await _callback_app(client)
    async with sibling(client) as browser:
        response = await authorize_page(browser, app, redirect_uri=CALLBACK, state="s 1")
        assert response.status_code == 303
        location = response.headers["location"]
        assert location.startswith("/login?next=")
        back = parse_qs(urlsplit(location).query)["next"][0]
        assert back.startswith("/oauth/authorize?")
        assert parse_qs(urlsplit(back).query)["state"] == ["s 1"]
        assert (await web_log_in(browser, user.username, user.password, back)).headers[
            "location"
        ] == back
        consent = await browser.get(back)
    assert consent.status_code == 200
    assert hidden_fields(consent.text)["state"] == "s 1"


async def test_authorize_page_shows_the_app_and_its_scopes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("consent")
    app = await register_app(client, name="Pretty <Photos>", scopes="read write", redirect_uris=OOB)
    async with sibling(client) as browser:
        await open_consent_page(browser, app, redirect_uri=OOB, user=user, scope="read write")
        response = await authorize_page(browser, app, redirect_uri=OOB, scope="read write")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "Pretty &lt;Photos&gt;" in response.text
        assert "<Photos>" not in response.text
        assert "<code>read</code>" in response.text
        assert "<code>write</code>" in response.text
        assert f"@{user.username}" in response.text
        assert browser.cookies.get("tessera_csrf")
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_authorize_page_tolerates_mastodon_py_junk(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("junk")
    app = await register_app(client)
    url = (
        f"/oauth/authorize?client_id={app['client_id']}&response_type=code"
        "&redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&scope=read+write+follow+push"
        "&force_login=False&state=None&lang=None"
    )
    async with sibling(client) as browser:
        assert (await web_log_in(browser, user.username, user.password)).status_code == 303
        response = await browser.get(url)
    assert response.status_code == 200, response.text
    for scope in ("read", "write", "follow", "push"):
        assert f"<code>{scope}</code>" in response.text


async def test_authorize_page_defaults_to_read(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("defread")
    app = await register_app(client)
    async with sibling(client) as browser:
        form = await open_consent_page(browser, app, redirect_uri=OOB, user=user, scope="")
    assert form["scope"] == "read"


async def test_authorize_page_rejects_bad_requests(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("badauth")
    app = await _callback_app(client, scopes="read")
    good = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": CALLBACK}
    bad_requests = [
        {**good, "client_id": "unknown-client"},
        {**good, "client_id": "tessera-web"},  # the web app's own client: never by this way
        {**good, "redirect_uri": "https://evil.example/cb"},
        {**good, "redirect_uri": ""},
        {**good, "response_type": "token"},
        {**good, "scope": "read write"},
        {**good, "code_challenge": "abc", "code_challenge_method": "plain"},
        {**good, "code_challenge": "x" * 129, "code_challenge_method": "S256"},
        {**good, "code_challenge": "x" * 42, "code_challenge_method": "S256"},
    ]
    async with sibling(client) as stranger, sibling(client) as browser:
        assert (await web_log_in(browser, user.username, user.password)).status_code == 303
        for params in bad_requests:
            # Refused at once, before any log-in, and never redirected to the app.
            for who in (stranger, browser):
                response = await who.get("/oauth/authorize", params=params)
                assert response.status_code == 400, params
                assert response.headers["content-type"].startswith("text/html")
                assert "location" not in response.headers


async def test_authorization_code_flow_with_a_redirect(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("codeflow")
    app = await _callback_app(client)
    async with sibling(client) as browser:
        form = await open_consent_page(
            browser, app, redirect_uri=CALLBACK, user=user, scope="read write", state="xyz 123"
        )
        response = await _submit(browser, form)
    assert response.status_code == 303
    query = _query(response.headers["location"])
    assert query["state"] == ["xyz 123"]
    code = query["code"][0]

    token = await _exchange(client, app, code, scope="")
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["scope"] == "read write"
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"]
    verify = await me(client, body["access_token"])
    assert verify.status_code == 200
    assert verify.json()["id"] == user.id


async def test_authorization_code_login_by_email(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("codemail")
    app = await _callback_app(client)
    async with sibling(client) as browser:
        response = await authorize_page(browser, app, redirect_uri=CALLBACK)
        back = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
        logged_in = await web_log_in(browser, user.email.upper(), user.password, back)
        assert logged_in.status_code == 303
        form = hidden_fields((await browser.get(back)).text)
        response = await _submit(browser, form)
    assert response.status_code == 303
    assert "state" not in _query(response.headers["location"])


async def test_authorization_code_out_of_band_shows_the_code(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("oob")
    app = await _callback_app(client)
    async with sibling(client) as browser:
        form = await open_consent_page(browser, app, redirect_uri=OOB, user=user)
        response = await _submit(browser, form)
    assert response.status_code == 200
    assert "location" not in response.headers
    code = shown_code(response.text)
    assert code
    token = await _exchange(client, app, code, redirect_uri=OOB)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == ALL_SCOPES
    assert (await me(client, token.json()["access_token"])).json()["id"] == user.id


async def test_authorize_with_a_wrong_password_shows_the_log_in_page_again(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("authwrong")
    app = await _callback_app(client)
    async with sibling(client) as browser:
        response = await authorize_page(browser, app, redirect_uri=CALLBACK)
        back = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
        wrong = await web_log_in(browser, user.username, "not-the-password", back)
        assert wrong.status_code == 401
        assert "location" not in wrong.headers
        assert "incorrect" in wrong.text
        assert shown_code(wrong.text) is None
        # Still on the way to the consent page: the form keeps where to go next.
        assert hidden_fields(wrong.text)["next"] == back
        # The log-in page works for a second try.
        retry = await web_log_in(browser, user.username, user.password, back)
        assert retry.status_code == 303
        form = hidden_fields((await browser.get(retry.headers["location"])).text)
        answer = await _submit(browser, form)
    assert answer.status_code == 303
    assert "code" in _query(answer.headers["location"])


async def test_authorize_requires_the_csrf_cookie_and_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("csrf")
    app = await _callback_app(client)
    async with sibling(client) as browser, sibling(client) as stranger:
        form = await open_consent_page(browser, app, redirect_uri=CALLBACK, user=user)
        forged = await _submit(browser, form, csrf_token=form["csrf_token"] + "0")
        assert forged.status_code == 403
        assert "location" not in forged.headers
        missing = await _submit(browser, {k: v for k, v in form.items() if k != "csrf_token"})
        assert missing.status_code == 403
        # A page from another browser: the token does not match this browser's cookie.
        other_form = await open_consent_page(stranger, app, redirect_uri=CALLBACK, user=user)
        crossed = await _submit(browser, form, csrf_token=other_form["csrf_token"])
        assert crossed.status_code == 403
        # No cookie at all (a cross-site POST).
        async with sibling(client) as cookieless:
            no_cookie = await _submit(cookieless, form)
        assert no_cookie.status_code == 403
        # The genuine form still works.
        ok = await _submit(browser, form)
        assert ok.status_code == 303


async def test_authorize_deny_redirects_with_access_denied(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("deny")
    app = await _callback_app(client)
    async with sibling(client) as browser:
        form = await open_consent_page(browser, app, redirect_uri=CALLBACK, user=user, state="s1")
        response = await browser.post("/oauth/authorize", data={**form, "decision": "deny"})
    assert response.status_code == 303
    query = _query(response.headers["location"])
    assert query == {"error": ["access_denied"], "state": ["s1"]}


async def test_code_exchange_requires_the_same_redirect_uri_and_is_single_use(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("single")
    app = await _callback_app(client)
    code = await _code(client, app, user)

    wrong_uri = await _exchange(client, app, code, redirect_uri=OOB)
    assert wrong_uri.status_code == 400
    assert wrong_uri.json()["error"] == "invalid_grant"
    no_uri = await _exchange(client, app, code, redirect_uri="")
    assert no_uri.status_code == 400

    other_app = await _callback_app(client)
    stolen = await _exchange(client, other_app, code)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"

    first = await _exchange(client, app, code)
    assert first.status_code == 200, first.text
    second = await _exchange(client, app, code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"

    unknown = await _exchange(client, app, "not-a-code")
    assert unknown.status_code == 400
    missing = await _exchange(client, app, "")
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_expired_code_is_rejected(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("expcode")
    app = await _callback_app(client)
    code = await _code(client, app, user)
    async with db(client) as session:
        await session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.app_id == int(app["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await _exchange(client, app, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_pkce_s256(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("pkce")
    app = await _callback_app(client)
    verifier, challenge = _pkce_pair()
    code = await _code(client, app, user, code_challenge=challenge, code_challenge_method="S256")

    missing = await _exchange(client, app, code)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"
    wrong = await _exchange(client, app, code, code_verifier=_pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # Sending the challenge itself as the verifier (the "plain" method) does not work either.
    plain = await _exchange(client, app, code, code_verifier=challenge)
    assert plain.status_code == 400

    right = await _exchange(client, app, code, code_verifier=verifier)
    assert right.status_code == 200, right.text
    assert (await me(client, right.json()["access_token"])).json()["id"] == user.id


async def test_pkce_plain_method_is_refused(client: httpx.AsyncClient) -> None:
    app = await _callback_app(client)
    async with sibling(client) as browser:
        for method in ("plain", "", "s256"):
            response = await authorize_page(
                browser,
                app,
                redirect_uri=CALLBACK,
                code_challenge="x" * 43,
                code_challenge_method=method,
            )
            assert response.status_code == 400, method


# -- POST /oauth/revoke --------------------------------------------------------------------


async def test_revoke_ends_the_token_at_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("revoke")
    app = await register_app(client)
    token = (await password_grant(client, app, user.username, user.password)).json()
    # A first use puts the token in the scaled backend's cache; revocation must evict it.
    assert (await me(client, token["access_token"])).status_code == 200

    response = await revoke(client, app, token["access_token"])
    assert response.status_code == 200
    assert response.json() == {}
    gone = await me(client, token["access_token"])
    assert gone.status_code == 401
    assert gone.json() == INVALID_TOKEN
    # The refresh token died with it.
    refreshed = await refresh_grant(client, app, token["refresh_token"])
    assert refreshed.status_code == 400
    # Other tokens of the same person keep working.
    assert (await me(client, user.token)).status_code == 200


async def test_revoke_by_refresh_token_ends_the_access_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("revref")
    app = await register_app(client)
    token = (await password_grant(client, app, user.username, user.password)).json()
    assert (await me(client, token["access_token"])).status_code == 200
    response = await client.post(
        "/oauth/revoke",
        auth=(app["client_id"], app["client_secret"]),
        data={"token": token["refresh_token"]},
    )
    assert response.status_code == 200
    assert response.json() == {}
    assert (await me(client, token["access_token"])).status_code == 401


async def test_revoking_another_apps_token_is_forbidden(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("revother")
    mine, theirs = await register_app(client), await register_app(client)
    token = (await password_grant(client, mine, user.username, user.password)).json()
    response = await revoke(client, theirs, token["access_token"])
    assert response.status_code == 403
    assert "error" in response.json()
    assert (await me(client, token["access_token"])).status_code == 200


async def test_revoking_an_unknown_token_is_fine(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    response = await revoke(client, app, "never-issued")
    assert response.status_code == 200
    assert response.json() == {}


async def test_revoke_needs_client_authentication(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("revauth")
    app = await register_app(client)
    token = (await password_grant(client, app, user.username, user.password)).json()
    response = await revoke(client, {**app, "client_secret": "wrong"}, token["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (await me(client, token["access_token"])).status_code == 200


# -- using tokens --------------------------------------------------------------------------


async def test_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    response = await me(client, "this-token-was-never-issued")
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


async def test_malformed_authorization_headers_are_401(client: httpx.AsyncClient) -> None:
    for header in ("Bearer", "Bearer    ", "Token abc", "abc", "Basic dXNlcjpwYXNz"):
        response = await client.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": header}
        )
        assert response.status_code == 401, header
        assert response.json() == INVALID_TOKEN


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/accounts/verify_credentials")
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


async def test_expired_token_is_401(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("expired")
    app = await register_app(client)
    token = (await password_grant(client, app, user.username, user.password)).json()
    async with db(client) as session:
        await session.execute(
            update(Token)
            .where(Token.account_id == int(user.id), Token.app_id == int(app["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await me(client, token["access_token"])
    assert response.status_code == 401
    assert "error" in response.json()
    # The sign-up token (another app) is untouched.
    assert (await me(client, user.token)).status_code == 200


async def test_token_with_a_lifetime_reports_expires_in(make_client: AppFactory) -> None:
    short = await make_client(token_lifetime=3600)
    app = await register_app(short)
    client_token = await token_request(short, app, "client_credentials", scope="read")
    assert client_token.status_code == 200
    assert client_token.json()["expires_in"] == 3600


async def test_token_without_the_scope_is_403(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("readonly")
    app = await register_app(client, scopes="read")
    token = (await password_grant(client, app, user.username, user.password, "read")).json()
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=bearer(token["access_token"]),
        data={"display_name": "Nope"},
    )
    assert response.status_code == 403
    assert response.json() == {"error": "This action is outside the authorized scopes"}
    assert (await me(client, token["access_token"])).json()["display_name"] != "Nope"


async def test_granular_scopes_are_honoured(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("granular")
    app = await register_app(client, scopes="read:accounts write:accounts")
    token = (
        await password_grant(client, app, user.username, user.password, "write:accounts")
    ).json()
    assert token["scope"] == "write:accounts"
    update_ = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=bearer(token["access_token"]),
        data={"display_name": "Granular"},
    )
    assert update_.status_code == 200, update_.text
    read = await me(client, token["access_token"])
    assert read.status_code == 403


async def test_app_token_cannot_act_as_a_user(
    client: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    response = await me(client, oauth_client.app_token)
    assert response.status_code == 422
    assert "error" in response.json()


async def test_app_token_without_write_accounts_cannot_sign_up(client: httpx.AsyncClient) -> None:
    app = await register_app(client, scopes="read")
    token = await app_token(client, app, "read")
    response = await client.post(
        "/api/v1/accounts",
        headers=bearer(token),
        data={
            "username": "scopeless_signup",
            "email": "scopeless_signup@example.org",
            "password": "a-long-passphrase",
            "agreement": "1",
        },
    )
    assert response.status_code == 403
    assert response.json() == {"error": "This action is outside the authorized scopes"}
