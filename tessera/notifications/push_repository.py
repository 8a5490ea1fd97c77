"""All SQL of Web Push subscriptions."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.notifications.push_models import PushSubscription

__all__ = ["by_token", "delete_ids", "delete_token", "of_accounts", "put"]


async def put(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert the token's subscription, or replace the one it has, in one statement (two
    requests racing for one token leave one row, the later one)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PushSubscription).values(values)
    replaced = {name: statement.excluded[name] for name in values if name != "token_id"}
    await session.execute(
        statement.on_conflict_do_update(index_elements=["token_id"], set_=replaced)
    )


async def by_token(session: AsyncSession, token_id: int) -> PushSubscription | None:
    return await session.scalar(
        select(PushSubscription).where(PushSubscription.token_id == token_id)
    )


async def delete_token(session: AsyncSession, token_id: int) -> None:
    await session.execute(
        delete(PushSubscription)
        .where(PushSubscription.token_id == token_id)
        .execution_options(synchronize_session=False)
    )


async def of_accounts(
    session: AsyncSession, account_ids: Collection[int]
) -> list[PushSubscription]:
    if not account_ids:
        return []
    rows = await session.scalars(
        select(PushSubscription)
        .where(PushSubscription.account_id.in_(account_ids))
        .order_by(PushSubscription.id)
    )
    return list(rows)


async def delete_ids(session: AsyncSession, ids: Collection[int]) -> None:
    if ids:
        await session.execute(
            delete(PushSubscription)
            .where(PushSubscription.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
