"""OAuth 2 routes: app registration, the log-in and consent page, tokens, revocation."""

from __future__ import annotations

import base64
import binascii
import html
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import oauth, render, service
from tessera.accounts.auth import Caller, caller_with, forget_token
from tessera.accounts.models import Account, OAuthApp
from tessera.accounts.scopes import KNOWN_SCOPES
from tessera.core import vapid
from tessera.core.config import Settings
from tessera.core.errors import BadRequest
from tessera.core.params import Params, StrList, parsed, read_params, validate
from tessera.core.ratelimit import client_ip
from tessera.core.runtime import Runtime, RuntimeDep, SessionDep, SettingsDep, base_url
from tessera.core.security import new_secret, sign, unsign

router = APIRouter()

CSRF_COOKIE = "tessera_csrf"
CSRF_MAX_AGE = 3600


class AppForm(Params):
    client_name: str = ""
    redirect_uris: StrList = Field(default_factory=list)
    scopes: str | None = None
    website: str | None = None


def _app_entity(app: OAuthApp, settings: Settings) -> dict[str, Any]:
    uris = app.redirect_uris.split("\n")
    return {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uris": uris,
        "redirect_uri": app.redirect_uris,
        "vapid_key": vapid.public_key(settings),
    }


@router.post("/api/v1/apps")
async def create_app(
    session: SessionDep, settings: SettingsDep, form: Annotated[AppForm, parsed(AppForm)]
) -> dict[str, Any]:
    uris = [uri for raw in form.redirect_uris for uri in oauth.split_redirect_uris(raw)]
    app, secret = await oauth.create_app(
        session,
        name=form.client_name,
        redirect_uris=uris,
        scopes=form.scopes,
        website=form.website,
    )
    return {
        **_app_entity(app, settings),
        "client_id": app.client_id,
        "client_secret": secret,
        "client_secret_expires_at": 0,
    }


@router.get("/api/v1/apps/verify_credentials")
async def verify_app(
    session: SessionDep,
    settings: SettingsDep,
    caller: Annotated[Caller, caller_with("read", "write", "profile", "follow", "push")],
) -> dict[str, Any]:
    app = await oauth.app_by_id(session, caller.app_id)
    return _app_entity(app, settings)


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server(request: Request) -> dict[str, Any]:
    base = base_url(request)
    return {
        "issuer": base + "/",
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": sorted(KNOWN_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": [
            "authorization_code",
            "password",
            "client_credentials",
            "refresh_token",
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }


# -- token endpoint ----------------------------------------------------------------------


class TokenForm(Params):
    grant_type: str = ""
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    """client_secret_basic; a Bearer header (sent by Mastodon.py) is ignored here."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth.OAuthError("invalid_client", "Malformed Basic credentials", 401) from None
    return client_id, secret


async def _checked_login(
    runtime: Runtime, request: Request, session: AsyncSession, login: str, password: str
) -> Account | None:
    """Check a password within the log-in budgets of the client address and the account."""
    await runtime.limiter.enforce("login", "ip:" + client_ip(request.scope, runtime.settings))
    return await service.check_login(
        session, login, password, partial(runtime.limiter.enforce, "login")
    )


@router.post("/oauth/token")
async def token(request: Request, runtime: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    form = validate(TokenForm, await read_params(request))
    basic_id, basic_secret = _basic_credentials(request)
    app = await oauth.authenticate_client(
        session, form.client_id or basic_id, form.client_secret or basic_secret
    )
    lifetime = runtime.settings.token_lifetime
    if form.grant_type == "client_credentials":
        scopes = oauth.requested_scopes(app, form.scope)
        return render.token(await oauth.issue_token(session, app.id, None, scopes, lifetime))
    if form.grant_type == "password":
        login = oauth.require_grant_field(form.username, "username")
        password = oauth.require_grant_field(form.password, "password")
        scopes = oauth.requested_scopes(app, form.scope)
        account = await _checked_login(runtime, request, session, login, password)
        if account is None:
            raise oauth.OAuthError("invalid_grant", "Invalid username, e-mail address or password")
        return render.token(await oauth.issue_token(session, app.id, account.id, scopes, lifetime))
    if form.grant_type == "authorization_code":
        issued = await oauth.redeem_code(
            session,
            app,
            code=oauth.require_grant_field(form.code, "code"),
            redirect_uri=form.redirect_uri,
            code_verifier=form.code_verifier,
            lifetime=lifetime,
        )
        return render.token(issued)
    if form.grant_type == "refresh_token":
        issued, old_hash = await oauth.refresh(
            session,
            app,
            oauth.require_grant_field(form.refresh_token, "refresh_token"),
            form.scope,
            lifetime,
        )
        forget_token(session, old_hash)
        return render.token(issued)
    raise oauth.OAuthError(
        "unsupported_grant_type", "The authorization grant type is not supported"
    )


class RevokeForm(Params):
    client_id: str | None = None
    client_secret: str | None = None
    token: str = ""


@router.post("/oauth/revoke")
async def revoke(request: Request, runtime: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    form = validate(RevokeForm, await read_params(request))
    basic_id, basic_secret = _basic_credentials(request)
    app = await oauth.authenticate_client(
        session, form.client_id or basic_id, form.client_secret or basic_secret
    )
    forget_token(session, await oauth.revoke(session, app, form.token))
    return {}


# -- authorization page ------------------------------------------------------------------


class AuthorizeQuery(Params):
    response_type: str = ""
    client_id: str = ""
    redirect_uri: str = ""
    scope: str | None = None
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None


class AuthorizeForm(AuthorizeQuery):
    csrf_token: str = ""
    login: str = ""
    password: str = ""
    decision: str = "approve"


async def _checked_request(
    session: SessionDep, query: AuthorizeQuery
) -> tuple[OAuthApp, list[str]]:
    """The app and scopes of a valid authorization request; 400 for anything else."""
    app = await oauth.find_app(session, query.client_id)
    if app is None:
        raise BadRequest("Unknown client_id")
    if query.redirect_uri not in app.redirect_uris.split("\n"):
        raise BadRequest("The redirect_uri is not registered for this application")
    if query.response_type != "code":
        raise BadRequest("response_type must be code")
    if query.code_challenge and query.code_challenge_method != "S256":
        raise BadRequest("code_challenge_method must be S256")
    if query.code_challenge and not 43 <= len(query.code_challenge) <= 128:
        raise BadRequest("code_challenge must be 43 to 128 characters (RFC 7636)")
    return app, oauth.requested_scopes(app, query.scope)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {app} · Tessera</title>
<style>
body{{font-family:system-ui,sans-serif;background:#fafafa;display:flex;
justify-content:center;padding:3rem 1rem}}
main{{background:#fff;border:1px solid #dbdbdb;border-radius:8px;padding:2rem;
max-width:22rem;width:100%}}
h1{{font-size:1.3rem}} label{{display:block;margin:.8rem 0 .2rem}}
input{{width:100%;padding:.5rem;box-sizing:border-box}} .error{{color:#c00}}
button{{margin-top:1rem;padding:.6rem 1rem}} code{{word-break:break-all}}
</style></head><body><main>{body}</main></body></html>"""


def _page(app_name: str, body: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(_PAGE.format(app=html.escape(app_name), body=body), status)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_form(
    request: Request,
    app: OAuthApp,
    query: AuthorizeQuery,
    scopes: list[str],
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    cookie = request.cookies.get(CSRF_COOKIE) or new_secret(16)
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in {
            "response_type": "code",
            "client_id": query.client_id,
            "redirect_uri": query.redirect_uri,
            "scope": " ".join(scopes),
            "state": query.state or "",
            "code_challenge": query.code_challenge or "",
            "code_challenge_method": query.code_challenge_method or "",
            "csrf_token": sign(runtime.settings.signing_key, cookie),
        }.items()
    )
    items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes)
    body = (
        f"<h1>Log in to authorize {html.escape(app.name)}</h1>"
        + (f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "")
        + f"<p>It asks to:</p><ul>{items}</ul>"
        + f'<form method="post" action="/oauth/authorize">{hidden}'
        + '<label for="login">Username or e-mail</label>'
        + '<input id="login" name="login" autocomplete="username" required>'
        + '<label for="password">Password</label>'
        + '<input id="password" name="password" type="password" '
        + 'autocomplete="current-password" required>'
        + '<button name="decision" value="approve">Authorize</button> '
        + '<button name="decision" value="deny" formnovalidate>Deny</button></form>'
    )
    response = _page(app.name, body, status)
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        max_age=CSRF_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/oauth",
    )
    return response


@router.get("/oauth/authorize")
async def authorize_page(
    request: Request, session: SessionDep, query: Annotated[AuthorizeQuery, parsed(AuthorizeQuery)]
) -> Response:
    app, scopes = await _checked_request(session, query)
    return _login_form(request, app, query, scopes)


def _redirect(uri: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(params)}", status_code=303)


@router.post("/oauth/authorize")
async def authorize(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    form: Annotated[AuthorizeForm, parsed(AuthorizeForm)],
) -> Response:
    app, scopes = await _checked_request(session, form)
    cookie = request.cookies.get(CSRF_COOKIE)
    signed_value = unsign(runtime.settings.signing_key, form.csrf_token, CSRF_MAX_AGE)
    if not cookie or signed_value != cookie:
        raise BadRequest("The form expired or was not sent from this site; reload and try again")
    state = {"state": form.state} if form.state else {}
    if form.decision == "deny":
        if form.redirect_uri == oauth.OOB_URI:
            return _page(app.name, "<h1>Authorization denied</h1>")
        return _redirect(form.redirect_uri, {"error": "access_denied", **state})
    account = await _checked_login(runtime, request, session, form.login, form.password)
    if account is None:
        return _login_form(
            request, app, form, scopes, "Invalid username, e-mail address or password", 401
        )
    code = await oauth.create_code(
        session,
        app,
        account,
        redirect_uri=form.redirect_uri,
        scopes=scopes,
        code_challenge=form.code_challenge or None,
    )
    if form.redirect_uri == oauth.OOB_URI:
        return _page(
            app.name,
            "<h1>Authorization code</h1><p>Copy this code into the application:</p>"
            f'<p><code id="code">{html.escape(code)}</code></p>',
        )
    return _redirect(form.redirect_uri, {"code": code, **state})
