"""OAuth 2 rules: client apps, grants, authorization codes (with PKCE), revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import repository
from tessera.accounts.models import AuthorizationCode, OAuthApp, Token
from tessera.accounts.scopes import parse_scopes
from tessera.core.db import utcnow
from tessera.core.errors import BadRequest, Forbidden, TesseraError, ValidationFailed
from tessera.core.ids import new_id
from tessera.core.security import hash_secret, new_secret

OOB_URI = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
WEB_CLIENT_ID = "tessera-web"
"""The built-in first-party app whose tokens are the web app's sessions. Its secret is
never kept, so no one can redeem a code or refresh a token as this app."""
WEB_SCOPES = ["read", "write", "follow", "push"]


class OAuthError(TesseraError):
    """An RFC 6749 error: `{"error": <code>, "error_description": <text>}`."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(code, description=description)
        self.status_code = status


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as handed to the client once; only its hash is kept."""

    access_token: str
    refresh_token: str | None
    scope: str
    created_at: int
    expires_in: int | None


def split_redirect_uris(value: str | list[str]) -> list[str]:
    items = value if isinstance(value, list) else value.split("\n")
    return [uri.strip() for uri in items if uri.strip()]


def check_redirect_uri(uri: str) -> bool:
    """Absolute URIs with a scheme (custom app schemes included) or the out-of-band URN."""
    if uri == OOB_URI:
        return True
    scheme, sep, rest = uri.partition(":")
    return bool(sep and scheme and rest and "#" not in uri and " " not in uri)


async def create_app(
    session: AsyncSession,
    *,
    name: str,
    redirect_uris: list[str],
    scopes: str | None,
    website: str | None,
) -> tuple[OAuthApp, str]:
    """Register a client; returns the app and its secret, which is shown only now."""
    errors: dict[str, list[tuple[str, str]]] = {}
    if not name.strip():
        errors["client_name"] = [("ERR_BLANK", "can't be blank")]
    elif len(name) > 200:
        errors["client_name"] = [("ERR_TOO_LONG", "is too long (maximum is 200 characters)")]
    if not redirect_uris:
        errors["redirect_uris"] = [("ERR_BLANK", "can't be blank")]
    elif not all(check_redirect_uri(uri) and len(uri) <= 2000 for uri in redirect_uris):
        errors["redirect_uris"] = [("ERR_INVALID", "must be absolute URIs")]
    granted = parse_scopes(scopes)
    if granted is None:
        errors["scopes"] = [("ERR_INVALID", "contain an unknown scope")]
    if website and (len(website) > 2000 or not website.startswith(("http://", "https://"))):
        errors["website"] = [("ERR_INVALID", "must be an http(s) URL")]
    if errors or granted is None:
        raise ValidationFailed(errors)
    secret = new_secret()
    app = OAuthApp(
        id=new_id(),
        name=name.strip(),
        website=website or None,
        redirect_uris="\n".join(redirect_uris),
        scopes=" ".join(granted),
        client_id=new_secret(24),
        client_secret_hash=hash_secret(secret),
    )
    session.add(app)
    await session.flush()
    return app, secret


async def find_app(session: AsyncSession, client_id: str | None) -> OAuthApp | None:
    return await repository.app_by_client_id(session, client_id) if client_id else None


async def app_by_id(session: AsyncSession, app_id: int) -> OAuthApp:
    app = await repository.app_by_id(session, app_id)
    if app is None:
        raise OAuthError("invalid_client", "The application no longer exists", 401)
    return app


async def first_party_app(session: AsyncSession) -> OAuthApp:
    """The web app's own client, made on first use (once, even when two log-ins race)."""
    app = await repository.app_by_client_id(session, WEB_CLIENT_ID)
    if app is not None:
        return app
    app = OAuthApp(
        id=new_id(),
        name="Tessera",
        website=None,
        redirect_uris=OOB_URI,
        scopes=" ".join(WEB_SCOPES),
        client_id=WEB_CLIENT_ID,
        client_secret_hash=hash_secret(new_secret()),
    )
    try:
        async with session.begin_nested():
            session.add(app)
            await session.flush()
    except IntegrityError:
        # Another log-in made it first and has committed: use that one.
        found = await repository.app_by_client_id(session, WEB_CLIENT_ID)
        if found is None:
            raise
        return found
    return app


async def authenticate_client(
    session: AsyncSession, client_id: str | None, client_secret: str | None
) -> OAuthApp:
    """The app whose id and secret these are, or 401 `invalid_client`."""
    app = await find_app(session, client_id)
    if (
        app is None
        or not client_secret
        or not hmac.compare_digest(app.client_secret_hash, hash_secret(client_secret))
    ):
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    return app


def requested_scopes(app: OAuthApp, scope: str | None) -> list[str]:
    """The requested scopes (default `read`), which must be a subset of the app's."""
    scopes = parse_scopes(scope)
    if scopes is None or not set(scopes) <= set(app.scopes.split()):
        raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or malformed")
    return scopes


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked `GET /oauth/authorize` request: whom to ask for what, and where to answer."""

    app_id: int
    app_name: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None


async def check_authorization_request(
    session: AsyncSession,
    *,
    response_type: str,
    client_id: str,
    redirect_uri: str,
    scope: str | None,
    state: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> AuthorizationRequest:
    """The request if it is valid; a 400 otherwise, and never a redirect to an address
    the app did not register."""
    app = await find_app(session, client_id)
    if app is None or app.client_id == WEB_CLIENT_ID:
        raise BadRequest("Unknown client_id")
    if redirect_uri not in app.redirect_uris.split("\n"):
        raise BadRequest("The redirect_uri is not registered for this application")
    if response_type != "code":
        raise BadRequest("response_type must be code")
    if code_challenge and code_challenge_method != "S256":
        raise BadRequest("code_challenge_method must be S256")
    if code_challenge and not 43 <= len(code_challenge) <= 128:
        raise BadRequest("code_challenge must be 43 to 128 characters (RFC 7636)")
    return AuthorizationRequest(
        app.id,
        app.name,
        app.client_id,
        redirect_uri,
        requested_scopes(app, scope),
        state or None,
        code_challenge or None,
    )


async def issue_token(
    session: AsyncSession,
    app_id: int,
    account_id: int | None,
    scopes: list[str],
    lifetime: int,
) -> IssuedToken:
    """A new access token; user tokens come with a refresh token."""
    access, refresh = new_secret(), new_secret() if account_id is not None else None
    now = utcnow()
    session.add(
        Token(
            id=new_id(account_id),
            token_hash=hash_secret(access),
            refresh_token_hash=hash_secret(refresh) if refresh else None,
            app_id=app_id,
            account_id=account_id,
            scopes=" ".join(scopes),
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime) if lifetime else None,
        )
    )
    await session.flush()
    return IssuedToken(
        access_token=access,
        refresh_token=refresh,
        scope=" ".join(scopes),
        created_at=int(now.timestamp()),
        expires_in=lifetime or None,
    )


async def create_code(session: AsyncSession, request: AuthorizationRequest, account_id: int) -> str:
    """A single-use code for the approved request, valid for `CODE_LIFETIME`."""
    code = new_secret()
    session.add(
        AuthorizationCode(
            id=new_id(account_id),
            code_hash=hash_secret(code),
            app_id=request.app_id,
            account_id=account_id,
            redirect_uri=request.redirect_uri,
            scopes=" ".join(request.scopes),
            code_challenge=request.code_challenge,
            expires_at=utcnow() + CODE_LIFETIME,
        )
    )
    await session.flush()
    return code


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def redeem_code(
    session: AsyncSession,
    app: OAuthApp,
    *,
    code: str | None,
    redirect_uri: str | None,
    code_verifier: str | None,
    lifetime: int,
) -> IssuedToken:
    """Exchange a code once: same app, same redirect URI, a matching PKCE verifier."""
    grant = await repository.code_by_hash(session, hash_secret(code or ""))
    invalid = OAuthError(
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match "
        "the redirection URI used in the authorization request, or was issued to another client.",
    )
    if grant is None or grant.app_id != app.id or grant.used_at or grant.expires_at < utcnow():
        raise invalid
    if redirect_uri != grant.redirect_uri:
        raise invalid
    if grant.code_challenge is not None and (
        not code_verifier
        or not hmac.compare_digest(pkce_challenge(code_verifier), grant.code_challenge)
    ):
        raise invalid
    if not await repository.claim_code(session, grant.id, utcnow()):
        raise invalid
    return await issue_token(session, app.id, grant.account_id, grant.scopes.split(), lifetime)


async def refresh(
    session: AsyncSession,
    app: OAuthApp,
    refresh_token: str | None,
    scope: str | None,
    lifetime: int,
) -> tuple[IssuedToken, str]:
    """Rotate a refresh token: the old pair is revoked, a new one issued.

    Returns the new token and the hash of the revoked access token (for cache eviction).
    """
    old = await repository.token_by_refresh_hash(session, hash_secret(refresh_token or ""))
    if old is None or old.app_id != app.id or old.revoked_at is not None:
        raise OAuthError("invalid_grant", "The refresh token is invalid or was revoked")
    scopes = old.scopes.split()
    if scope:
        wanted = parse_scopes(scope)
        if wanted is None or not set(wanted) <= set(scopes):
            raise OAuthError("invalid_scope", "The requested scope exceeds the original grant")
        scopes = wanted
    await repository.revoke_token(session, old.id, utcnow())
    issued = await issue_token(session, app.id, old.account_id, scopes, lifetime)
    return issued, old.token_hash


async def revoke(session: AsyncSession, app: OAuthApp, token: str) -> str | None:
    """Revoke an access (or refresh) token of this app. Unknown tokens are ignored (RFC 7009).

    Returns the revoked access token's hash, for cache eviction.
    """
    row = await repository.token_by_hash(session, hash_secret(token))
    row = row or await repository.token_by_refresh_hash(session, hash_secret(token))
    if row is None:
        return None
    if row.app_id != app.id:
        raise Forbidden(
            "unauthorized_client", description="You are not authorized to revoke this token"
        )
    await repository.revoke_token(session, row.id, utcnow())
    return row.token_hash


def require_grant_field(value: str | None, name: str) -> str:
    if not value:
        raise OAuthError("invalid_request", f"Missing required parameter: {name}")
    return value
