"""OAuth 2 routes: app registration, tokens, revocation. The log-in and consent page
(`/oauth/authorize`) belongs to the web app, which calls `oauth` through the public
interface."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field

from tessera.accounts import oauth, render, service
from tessera.accounts.auth import Caller, caller_with, forget_token
from tessera.accounts.models import OAuthApp
from tessera.accounts.scopes import KNOWN_SCOPES
from tessera.core import vapid
from tessera.core.config import Settings
from tessera.core.params import Params, StrList, parsed, read_params, validate
from tessera.core.ratelimit import client_ip
from tessera.core.runtime import RuntimeDep, SessionDep, SettingsDep, base_url

router = APIRouter()


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
        account = await service.checked_login(
            session, runtime.limiter, client_ip(request.scope, runtime.settings), login, password
        )
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
