"""Who is calling: bearer tokens resolved (through a Redis cache when scaled) and scopes checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import repository, service
from tessera.accounts.models import Account
from tessera.accounts.scopes import satisfies
from tessera.core.db import utcnow
from tessera.core.errors import Forbidden, Unauthorized, Unprocessable
from tessera.core.runtime import Runtime, RuntimeDep, SessionDep
from tessera.core.security import hash_secret

__all__ = ["Caller", "caller_with", "evict_token", "optional_caller", "user_with"]

TOKEN_CACHE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Caller:
    """A valid token: whose it is and what it may do."""

    token_hash: str
    app_id: int
    account_id: int | None
    scopes: frozenset[str]
    expires_at: float | None

    def allows(self, *any_of: str) -> bool:
        return any(satisfies(self.scopes, scope) for scope in any_of)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("The access token is invalid")
    return value.strip()


async def _cached(runtime: Runtime, token_hash: str) -> Caller | None:
    if runtime.redis is None:
        return None
    raw = await runtime.redis.get(runtime.redis_key("token", token_hash))
    if raw is None:
        return None
    data = orjson.loads(raw)
    return Caller(token_hash, data["app"], data["account"], frozenset(data["scopes"]), data["exp"])


async def _remember(runtime: Runtime, caller: Caller) -> None:
    if runtime.redis is None:
        return
    payload = {
        "app": caller.app_id,
        "account": caller.account_id,
        "scopes": sorted(caller.scopes),
        "exp": caller.expires_at,
    }
    key = runtime.redis_key("token", caller.token_hash)
    await runtime.redis.set(key, orjson.dumps(payload), ex=TOKEN_CACHE_SECONDS)


async def evict_token(runtime: Runtime, token_hash: str | None) -> None:
    """Forget a revoked token at once (called after the revocation commits)."""
    if runtime.redis is not None and token_hash:
        await runtime.redis.delete(runtime.redis_key("token", token_hash))


def _expired(expires_at: datetime | float | None) -> bool:
    if expires_at is None:
        return False
    stamp = expires_at.timestamp() if isinstance(expires_at, datetime) else expires_at
    return stamp <= utcnow().timestamp()


async def _resolve(
    request: Request, runtime: Runtime, session: AsyncSession
) -> tuple[Caller, Account | None] | None:
    """The caller and, for user tokens read from the database, the account row."""
    known: tuple[Caller, Account | None] | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    token = _bearer(request)
    if token is None:
        return None
    token_hash = hash_secret(token)
    caller = await _cached(runtime, token_hash)
    account: Account | None = None
    if caller is None:
        found = await repository.token_with_account(session, token_hash)
        if found is None or found[0].revoked_at is not None:
            raise Unauthorized("The access token is invalid")
        row, account = found
        caller = Caller(
            token_hash,
            row.app_id,
            row.account_id,
            frozenset(row.scopes.split()),
            row.expires_at.timestamp() if row.expires_at else None,
        )
        if not _expired(caller.expires_at):
            await _remember(runtime, caller)
    if _expired(caller.expires_at):
        raise Unauthorized("The access token expired")
    request.state.caller = (caller, account)
    return caller, account


async def _optional(request: Request, runtime: RuntimeDep, session: SessionDep) -> Caller | None:
    resolved = await _resolve(request, runtime, session)
    return resolved[0] if resolved else None


optional_caller: Any = Depends(_optional)
"""The caller if a token was sent (an invalid one is still a 401), else None."""


def caller_with(*any_of: str) -> Any:
    """A dependency: any valid token (app or user) holding one of these scopes."""

    async def dependency(request: Request, runtime: RuntimeDep, session: SessionDep) -> Caller:
        resolved = await _resolve(request, runtime, session)
        if resolved is None:
            raise Unauthorized("The access token is invalid")
        if not resolved[0].allows(*any_of):
            raise Forbidden("This action is outside the authorized scopes")
        return resolved[0]

    return Depends(dependency)


def user_with(*any_of: str) -> Any:
    """A dependency: the account behind a user token holding one of these scopes."""

    async def dependency(request: Request, runtime: RuntimeDep, session: SessionDep) -> Account:
        resolved = await _resolve(request, runtime, session)
        if resolved is None:
            raise Unauthorized("The access token is invalid")
        caller, account = resolved
        if not caller.allows(*any_of):
            raise Forbidden("This action is outside the authorized scopes")
        if caller.account_id is None:
            raise Unprocessable("This method requires an authenticated user")
        if account is None:
            account = await service.get_account(session, caller.account_id)
        return account

    return Depends(dependency)
