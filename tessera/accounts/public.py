"""Plain functions other services and the CLI call; each opens no transaction of its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import render, repository, service
from tessera.core.runtime import Links


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
    """Account entities by id, for the ids that exist."""
    found = await repository.accounts_by_ids(session, account_ids)
    return {account_id: render.account(row, urls) for account_id, row in found.items()}


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
