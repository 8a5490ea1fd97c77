"""Plain functions other services and the CLI call; each opens no transaction of its own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import service


async def count_accounts(session: AsyncSession) -> int:
    """How many accounts exist (instance statistics)."""
    return await service.count_accounts(session)


async def create_user(session: AsyncSession, username: str, email: str, password: str) -> int:
    """Create an account with the same checks as sign-up; returns its id."""
    account = await service.register(
        session, username=username, email=email, password=password, agreement=True
    )
    return account.id
