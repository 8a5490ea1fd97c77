"""Plain functions other services and the CLI call; each opens no transaction of its own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import oauth, passwords, render, repository, service
from tessera.accounts.auth import forget_token
from tessera.accounts.oauth import OOB_URI as OOB_URI
from tessera.accounts.oauth import AuthorizationRequest as AuthorizationRequest
from tessera.accounts.oauth import check_authorization_request as check_authorization_request
from tessera.accounts.service import ProfileChanges as ProfileChanges
from tessera.core.cache import read_through
from tessera.core.config import Settings
from tessera.core.db import cache_of, utcnow
from tessera.core.pagination import Page
from tessera.core.ratelimit import RateLimiter
from tessera.core.runtime import Links
from tessera.core.security import hash_secret

ACCOUNT_CACHE_SECONDS = 600
"""How long a rendered Account may stay cached; every change to the account evicts it."""


async def count_accounts(session: AsyncSession) -> int:
    """How many accounts exist (instance statistics)."""
    return await service.count_accounts(session)


async def create_user(session: AsyncSession, username: str, email: str, password: str) -> int:
    """Create an account with the same checks as sign-up; returns its id."""
    account = await service.register(
        session, username=username, email=email, password=password, agreement=True
    )
    return account.id


async def account_exists(session: AsyncSession, account_id: int) -> bool:
    return bool(await service.existing_ids(session, [account_id]))


async def render_accounts(
    session: AsyncSession, account_ids: Iterable[int], urls: Links
) -> dict[int, dict[str, Any]]:
    """Account entities by id, for the ids that exist: from the cache in one round trip,
    the misses in one query."""

    async def load(missing: list[int]) -> dict[int, bytes]:
        found = await repository.accounts_by_ids(session, missing)
        return {i: orjson.dumps(render.account(row, urls)) for i, row in found.items()}

    bodies = await read_through(
        cache_of(session),
        session,
        list(account_ids),
        repository.account_key,
        f"account:{urls.base}",
        ACCOUNT_CACHE_SECONDS,
        load,
    )
    return {i: orjson.loads(body) for i, body in bodies.items()}


async def ids_by_username(session: AsyncSession, usernames: Iterable[str]) -> dict[str, int]:
    """{username lower-cased: account id} for the local accounts that exist."""
    return await repository.ids_by_username_keys(session, (name.lower() for name in usernames))


async def followed_among(
    session: AsyncSession, follower_id: int, account_ids: Iterable[int]
) -> set[int]:
    """Which of `account_ids` the follower follows (approved follows only, not requests)."""
    return await repository.followed_among(session, follower_id, account_ids)


async def follower_ids(session: AsyncSession, account_id: int) -> list[int]:
    """Every approved follower of the account (pending requests are not followers)."""
    return await repository.follower_ids(session, account_id)


async def followed_ids(
    session: AsyncSession, follower_id: int, *, more_followers_than: int | None = None
) -> list[int]:
    """The accounts the follower follows (approved follows); with `more_followers_than`,
    only those with more followers than that (the feed's celebrities)."""
    return await repository.followed_ids(session, follower_id, more_followers_than)


async def follow_requested(session: AsyncSession, follower_id: int, target_id: int) -> bool:
    """Whether the follower's request to follow the target is pending."""
    return await repository.get_follow_request(session, follower_id, target_id) is not None


async def live_token_ids(session: AsyncSession, token_ids: Iterable[int]) -> set[int]:
    """Which of these access tokens still work (neither revoked nor expired): what is
    tied to a token, such as a Web Push subscription, dies with it."""
    return await repository.live_token_ids(session, token_ids, utcnow())


async def followers_count(session: AsyncSession, account_id: int) -> int:
    """The account's exact follower count (0 for an account that does not exist)."""
    return await repository.followers_count(session, account_id)


async def locked_among(session: AsyncSession, account_ids: Iterable[int]) -> set[int]:
    """Which of `account_ids` are locked (their posts are for approved followers only)."""
    return await repository.locked_among(session, account_ids)


async def record_post(
    session: AsyncSession, account_id: int, delta: int, at: datetime | None = None
) -> None:
    """Add `delta` to the account's `statuses_count` (and set `last_status_at` to `at`),
    in the caller's transaction."""
    await repository.record_post(session, account_id, delta, at)


@dataclass(frozen=True, slots=True)
class PostingDefaults:
    visibility: str
    sensitive: bool
    language: str | None


async def posting_defaults(session: AsyncSession, account_id: int) -> PostingDefaults:
    """The account's default post visibility, sensitivity and language (a 404 if gone)."""
    account = await service.get_account(session, account_id)
    return PostingDefaults(
        account.default_privacy, account.default_sensitive, account.default_language
    )


async def applications(session: AsyncSession, app_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Status `application` entities (`{name, website}`) by app id."""
    apps = await repository.apps_by_ids(session, app_ids)
    return {app_id: {"name": app.name, "website": app.website} for app_id, app in apps.items()}


async def profile_keys_in_use(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Which of these storage keys an avatar or header uses (files may be shared)."""
    return await repository.profile_keys_in_use(session, keys)


# -- the web app: sessions are first-party tokens -----------------------------------------


async def _web_token(session: AsyncSession, account_id: int, lifetime: int) -> str:
    app = await oauth.first_party_app(session)
    issued = await oauth.issue_token(session, app.id, account_id, oauth.WEB_SCOPES, lifetime)
    return issued.access_token


async def log_in(
    session: AsyncSession,
    limiter: RateLimiter,
    client_address: str,
    login: str,
    password: str,
    lifetime: int,
) -> str | None:
    """A new access token of the built-in web app for the account whose username or
    e-mail and password these are (None if they do not match), within the same log-in
    budgets as the API's password grant (429 beyond them)."""
    account = await service.checked_login(session, limiter, client_address, login, password)
    return None if account is None else await _web_token(session, account.id, lifetime)


async def sign_up(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    client_address: str,
    *,
    username: str,
    email: str,
    password: str,
    agreement: bool,
) -> str:
    """Create an account with the API's checks and budget (422 naming each bad field,
    403 when registrations are closed, 429), and log it in to the web app."""
    account = await service.checked_register(
        session,
        settings,
        limiter,
        client_address,
        username=username,
        email=email,
        password=password,
        agreement=agreement,
    )
    return await _web_token(session, account.id, settings.token_lifetime)


async def log_out(session: AsyncSession, token: str) -> None:
    """Revoke the token (at once, cache included); an unknown one is ignored."""
    row = await repository.token_by_hash(session, hash_secret(token))
    if row is not None:
        await repository.revoke_token(session, row.id, utcnow())
        forget_token(session, row.token_hash)


async def grant_code(session: AsyncSession, request: AuthorizationRequest, account_id: int) -> str:
    """An authorization code for a request the account approved (`/oauth/authorize`)."""
    return await oauth.create_code(session, request, account_id)


async def credential_account(session: AsyncSession, account_id: int, urls: Links) -> dict[str, Any]:
    """The account as `verify_credentials` renders it (with `source`: the plain-text
    bio, the count of pending follow requests); a 404 if it is gone."""
    return render.credential_account(await service.get_account(session, account_id), urls)


def check_profile(changes: ProfileChanges) -> None:
    """The field checks of `update_credentials` (422 naming each bad field), for callers
    that must check before they store new images."""
    service.check_profile(changes)


async def update_profile(session: AsyncSession, account_id: int, changes: ProfileChanges) -> None:
    """Apply checked profile changes, images already stored (their keys in `changes`);
    unlocking accepts the pending follow requests, as on the API."""
    account = await service.get_account(session, account_id)
    service.check_profile(changes)
    await service.do_update_profile(session, account, changes)


async def relationship(session: AsyncSession, viewer_id: int, other_id: int) -> dict[str, Any]:
    """The Relationship entity of the viewer to the other account."""
    return render.relationship(await service.relationship(session, viewer_id, other_id))


async def follow(session: AsyncSession, actor_id: int, target_id: int) -> dict[str, Any]:
    """Follow, or ask to follow a locked account (404 if gone, 403 for oneself); the
    Relationship after it."""
    actor = await service.get_account(session, actor_id)
    rel = await service.follow(session, actor, target_id, reblogs=True, notify=False)
    return render.relationship(rel)


async def unfollow(session: AsyncSession, actor_id: int, target_id: int) -> dict[str, Any]:
    """Stop following, or withdraw a pending request; the Relationship after it."""
    actor = await service.get_account(session, actor_id)
    return render.relationship(await service.unfollow(session, actor, target_id))


async def answer_follow_request(
    session: AsyncSession, account_id: int, requester_id: int, *, accept: bool
) -> dict[str, Any]:
    """Authorize or reject a pending request (404 if there is none)."""
    account = await service.get_account(session, account_id)
    rel = await service.answer_follow_request(session, account, requester_id, accept=accept)
    return render.relationship(rel)


async def follow_requests(
    session: AsyncSession, account_id: int, page: Page, urls: Links
) -> list[tuple[int, dict[str, Any]]]:
    """(request id, Account) of one page of the requests waiting on the account, newest
    first; the request ids are the page cursors."""
    rows = await service.account_list(session, "follow_requests", account_id, page)
    return [(edge_id, render.account(account, urls)) for edge_id, account in rows]


# -- bulk loading (`tessera seed`) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkAccount:
    """A complete account row for bulk loading; the counters must already agree with the
    follows and posts loaded beside it, since nothing recounts them."""

    id: int
    username: str
    display_name: str
    email: str
    password_hash: str
    created_at: datetime
    followers_count: int
    following_count: int
    statuses_count: int
    last_status_at: datetime | None


@dataclass(frozen=True, slots=True)
class BulkFollow:
    id: int
    account_id: int
    target_account_id: int
    created_at: datetime


async def hash_password(password: str) -> str:
    """The Argon2id hash sign-up would store (computed in a thread)."""
    return await passwords.hash_password(password)


async def bulk_insert_accounts(session: AsyncSession, accounts: Sequence[BulkAccount]) -> None:
    """Insert accounts as given, in one executemany: no checks, no events, no cache
    eviction. For loading a fresh data set only; usernames and emails must be unused."""
    await repository.insert_accounts(
        session,
        [
            {
                "id": account.id,
                "username": account.username,
                "username_key": account.username.lower(),
                "email": account.email.lower(),
                "password_hash": account.password_hash,
                "display_name": account.display_name,
                "note": "",
                "locked": False,
                "bot": False,
                "discoverable": True,
                "default_privacy": "public",
                "default_sensitive": False,
                "followers_count": account.followers_count,
                "following_count": account.following_count,
                "statuses_count": account.statuses_count,
                "follow_requests_count": 0,
                "last_status_at": account.last_status_at,
                "created_at": account.created_at,
            }
            for account in accounts
        ],
    )


async def bulk_insert_follows(session: AsyncSession, follows: Sequence[BulkFollow]) -> None:
    """Insert approved follows as given, in one executemany, without touching counters or
    emitting `account.followed` (so no feed backfill: feeds are rebuilt on first read)."""
    await repository.insert_follows(
        session,
        [
            {
                "id": follow.id,
                "account_id": follow.account_id,
                "target_account_id": follow.target_account_id,
                "show_reblogs": True,
                "notify": False,
                "created_at": follow.created_at,
            }
            for follow in follows
        ],
    )
