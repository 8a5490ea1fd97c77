"""The feed service's event handlers, subscribed to a runtime's relay at app start.

Each takes ids from the event, opens its own transaction and re-reads what it needs;
all of them may run twice (delivery is at-least-once) with the same outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db import session_scope
from tessera.core.outbox import Event
from tessera.core.runtime import Runtime
from tessera.feed import service

__all__ = ["subscribe_handlers"]

Step = Callable[[AsyncSession, service.Feeds, dict[str, object]], Awaitable[None]]


async def _post_created(session: AsyncSession, feeds: service.Feeds, p: dict[str, object]) -> None:
    await service.fan_out(session, feeds, _id(p, "post_id"))


async def _post_deleted(session: AsyncSession, feeds: service.Feeds, p: dict[str, object]) -> None:
    await service.remove_post(session, feeds, _id(p, "post_id"), _id(p, "account_id"))


async def _followed(session: AsyncSession, feeds: service.Feeds, p: dict[str, object]) -> None:
    await service.backfill(session, feeds, _id(p, "follower_id"), _id(p, "target_id"))


async def _unfollowed(session: AsyncSession, feeds: service.Feeds, p: dict[str, object]) -> None:
    await service.remove_author(session, feeds, _id(p, "follower_id"), _id(p, "target_id"))


STEPS: dict[str, Step] = {
    "post.created": _post_created,
    "post.deleted": _post_deleted,
    "account.followed": _followed,
    "account.unfollowed": _unfollowed,
}


def _id(payload: dict[str, object], name: str) -> int:
    value = payload[name]
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an integer id, not {value!r}")
    return value


def subscribe_handlers(runtime: Runtime) -> None:
    """Handle the feed's topics for the events this runtime's relay publishes."""
    feeds = service.feeds_of(runtime)

    def handler(step: Step) -> Callable[[Event], Awaitable[None]]:
        async def handle(event: Event) -> None:
            async with session_scope(runtime.sessions) as session:
                await step(session, feeds, event.payload)

        return handle

    for topic, step in STEPS.items():
        runtime.handlers.subscribe(topic, handler(step))
