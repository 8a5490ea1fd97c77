"""Who is calling: bearer tokens resolved through the cache, and scopes checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import repository, service
from tessera.accounts.models import Account
from tessera.accounts.scopes import satisfies
from tessera.core.cache import evict_after_commit
from tessera.core.db import utcnow
from tessera.core.errors import Forbidden, Unauthorized, Unprocessable
from tessera.core.runtime import Runtime, SessionDep, act_for, runtime_of
from tessera.core.security import hash_secret

__all__ = [
    "Caller",
    "caller_for_token",
    "caller_with",
    "forget_token",
    "optional_caller",
    "user_with",
]

TOKEN_CACHE_SECONDS = 300
CALLER_FIELD = "caller:2"
"""The cache field of a resolved token; renamed whenever `Caller.dump` changes, so that
entries written by an older process are never misread (they expire unread)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A valid token: whose it is and what it may do."""

    app_id: int
    account_id: int | None
    scopes: frozenset[str]
    expires_at: float | None
    token_id: int
    """The token's row: what belongs to one token (a Web Push subscription) is keyed by it."""

    def allows(self, *any_of: str) -> bool:
        return any(satisfies(self.scopes, scope) for scope in any_of)

    def dump(self) -> bytes:
        return orjson.dumps(
            [self.app_id, self.account_id, sorted(self.scopes), self.expires_at, self.token_id]
        )

    @classmethod
    def load(cls, raw: bytes) -> Caller:
        app_id, account_id, scopes, expires_at, token_id = orjson.loads(raw)
        return cls(app_id, account_id, frozenset(scopes), expires_at, token_id)


def token_key(token_hash: str) -> str:
    return f"token:{token_hash}"


def forget_token(session: AsyncSession, token_hash: str | None) -> None:
    """Drop a revoked token from the cache once the revocation commits."""
    if token_hash:
        evict_after_commit(session, token_key(token_hash))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("The access token is invalid")
    return value.strip()


async def _load(runtime: Runtime, token_hash: str) -> Caller:
    """The token from the database (in a short session of its own), then cached."""
    async with runtime.sessions() as session:
        row = await repository.token_by_hash(session, token_hash)
    if row is None or row.revoked_at is not None:
        raise Unauthorized("The access token is invalid")
    caller = Caller(
        row.app_id,
        row.account_id,
        frozenset(row.scopes.split()),
        row.expires_at.timestamp() if row.expires_at else None,
        row.id,
    )
    await runtime.cache.set(token_key(token_hash), CALLER_FIELD, caller.dump(), TOKEN_CACHE_SECONDS)
    return caller


async def caller_for_token(runtime: Runtime, token: str) -> Caller:
    """The valid token's caller (from the cache, else the database); a 401 otherwise.

    For callers that hold a token outside a request's headers, such as live streams,
    which ask again now and then: revocation evicts the cache, so they notice it.
    """
    token_hash = hash_secret(token)
    raw = await runtime.cache.get(token_key(token_hash), CALLER_FIELD)
    caller = Caller.load(raw) if raw is not None else await _load(runtime, token_hash)
    if caller.expires_at is not None and caller.expires_at <= utcnow().timestamp():
        raise Unauthorized("The access token expired")
    return caller


async def _resolve(request: Request, runtime: Runtime) -> Caller | None:
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    token = _bearer(request)
    if token is None:
        return None
    caller = await caller_for_token(runtime, token)
    request.state.caller = caller
    if caller.account_id is not None:
        await act_for(request, caller.account_id)
    return caller


async def _optional(request: Request) -> Caller | None:
    return await _resolve(request, runtime_of(request))


optional_caller: Any = Depends(_optional)
"""The caller if a token was sent (an invalid one is still a 401), else None."""


async def _checked(request: Request, runtime: Runtime, any_of: tuple[str, ...]) -> Caller:
    caller = await _resolve(request, runtime)
    if caller is None:
        raise Unauthorized("The access token is invalid")
    if not caller.allows(*any_of):
        raise Forbidden("This action is outside the authorized scopes")
    return caller


def caller_with(*any_of: str) -> Any:
    """A dependency: any valid token (app or user) holding one of these scopes."""

    async def dependency(request: Request) -> Caller:
        return await _checked(request, runtime_of(request), any_of)

    return Depends(dependency)


def user_id_with(*any_of: str) -> Any:
    """A dependency: the account id behind a user token holding one of these scopes.

    Costs no database query when the token is cached.
    """

    async def dependency(request: Request) -> int:
        caller = await _checked(request, runtime_of(request), any_of)
        if caller.account_id is None:
            raise Unprocessable("This method requires an authenticated user")
        return caller.account_id

    return Depends(dependency)


def user_with(*any_of: str) -> Any:
    """A dependency: the account (in the request's session) behind a user token."""

    async def dependency(request: Request, session: SessionDep) -> Account:
        caller = await _checked(request, runtime_of(request), any_of)
        if caller.account_id is None:
            raise Unprocessable("This method requires an authenticated user")
        return await service.get_account(session, caller.account_id)

    return Depends(dependency)
