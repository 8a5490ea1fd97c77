"""All SQL of the notifications service."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Insert, Select, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.pagination import Page, newest_first, within
from tessera.notifications.models import Marker, Notification

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True, slots=True)
class Cause:
    """What one notification is about; at most one notification exists per cause."""

    account_id: int
    type: str
    from_account_id: int
    status_id: int | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    types: frozenset[str] | None = None
    """Only these types (None: any)."""
    exclude_types: frozenset[str] = frozenset()
    from_account_id: int | None = None


def _insert(session: AsyncSession, model: type[Notification | Marker]) -> Insert:
    """An INSERT that skips rows colliding with a unique key (delivery may repeat)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


async def add(session: AsyncSession, rows: Sequence[tuple[int, Cause]], at: datetime) -> list[int]:
    """Insert (id, cause) rows, skipping causes already notified; returns the new ids."""
    if not rows:
        return []
    statement = (
        _insert(session, Notification)
        .values(
            [
                {
                    "id": notification_id,
                    "account_id": cause.account_id,
                    "type": cause.type,
                    "from_account_id": cause.from_account_id,
                    "status_id": cause.status_id,
                    "created_at": at,
                }
                for notification_id, cause in rows
            ]
        )
        .returning(Notification.id)
    )
    return list(await session.scalars(statement))


async def remove(session: AsyncSession, cause: Cause) -> None:
    statement = delete(Notification).where(
        Notification.account_id == cause.account_id,
        Notification.type == cause.type,
        Notification.from_account_id == cause.from_account_id,
    )
    if cause.status_id is None:
        statement = statement.where(Notification.status_id.is_(None))
    else:
        statement = statement.where(Notification.status_id == cause.status_id)
    await session.execute(statement.execution_options(synchronize_session=False))


async def remove_of_status(session: AsyncSession, status_id: int) -> None:
    await session.execute(
        delete(Notification)
        .where(Notification.status_id == status_id)
        .execution_options(synchronize_session=False)
    )


def _filtered(statement: S, filters: Filters) -> S:
    if filters.types is not None:
        statement = statement.where(Notification.type.in_(filters.types))
    if filters.exclude_types:
        statement = statement.where(Notification.type.not_in(filters.exclude_types))
    if filters.from_account_id is not None:
        statement = statement.where(Notification.from_account_id == filters.from_account_id)
    return statement


async def page(
    session: AsyncSession, account_id: int, filters: Filters, page: Page
) -> list[Notification]:
    """One page of the account's notifications, newest first."""
    statement = _filtered(
        select(Notification).where(Notification.account_id == account_id), filters
    )
    rows = (await session.scalars(within(statement, Notification.id, page))).all()
    return newest_first(rows, page)


async def by_ids(
    session: AsyncSession, account_id: int, ids: Collection[int]
) -> list[Notification]:
    """The account's notifications among `ids` (another's are not found), newest first."""
    if not ids:
        return []
    rows = await session.scalars(
        select(Notification)
        .where(Notification.account_id == account_id, Notification.id.in_(ids))
        .order_by(Notification.id.desc())
    )
    return list(rows)


async def count_newer(
    session: AsyncSession, account_id: int, after: int, filters: Filters, cap: int
) -> int:
    """How many of the account's notifications have ids above `after`, counting at most `cap`."""
    newer = _filtered(
        select(Notification.id).where(
            Notification.account_id == account_id, Notification.id > after
        ),
        filters,
    ).limit(cap)
    return (await session.scalar(select(func.count()).select_from(newer.subquery()))) or 0


async def delete_one(session: AsyncSession, account_id: int, notification_id: int) -> bool:
    result = await session.execute(
        delete(Notification)
        .where(Notification.account_id == account_id, Notification.id == notification_id)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def delete_all(session: AsyncSession, account_id: int) -> None:
    await session.execute(
        delete(Notification)
        .where(Notification.account_id == account_id)
        .execution_options(synchronize_session=False)
    )


# -- markers -----------------------------------------------------------------------------


async def markers(
    session: AsyncSession, account_id: int, timelines: Collection[str]
) -> list[Marker]:
    if not timelines:
        return []
    rows = await session.scalars(
        select(Marker).where(Marker.account_id == account_id, Marker.timeline.in_(timelines))
    )
    return list(rows)


async def insert_marker(
    session: AsyncSession, account_id: int, timeline: str, last_read_id: int, at: datetime
) -> bool:
    """Insert version 1; False when another request inserted it first."""
    statement = _insert(session, Marker).values(
        account_id=account_id,
        timeline=timeline,
        last_read_id=last_read_id,
        version=1,
        updated_at=at,
    )
    result = await session.execute(statement.returning(Marker.version))
    return result.first() is not None


async def advance_marker(
    session: AsyncSession,
    account_id: int,
    timeline: str,
    version: int,
    last_read_id: int,
    at: datetime,
) -> bool:
    """Save over `version`; False when another save changed it since it was read."""
    result = await session.execute(
        update(Marker)
        .where(
            Marker.account_id == account_id,
            Marker.timeline == timeline,
            Marker.version == version,
        )
        .values(last_read_id=last_read_id, version=version + 1, updated_at=at)
        .returning(Marker.version)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None
