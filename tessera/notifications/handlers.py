"""The notifications service's event handlers: a handler group of their own.

Each takes ids from the event, opens its own transaction, re-reads what it needs and
may run twice with the same outcome. Once a transaction that created notifications has
committed, they are delivered: to the recipients' live streams, then to the hooks
registered with `on_created` (Web Push will be one).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db import after_commit, session_scope
from tessera.core.outbox import Event
from tessera.core.runtime import Runtime
from tessera.core.streaming import user_channel
from tessera.notifications import service
from tessera.notifications.service import Created

__all__ = ["GROUP", "CreatedHook", "on_created", "subscribe_handlers"]

log = logging.getLogger(__name__)

GROUP = "notifications"
"""The handler group: with a broker, the queue `<exchange>.notifications`."""

CreatedHook = Callable[[Runtime, Sequence[Created]], Awaitable[None]]
"""Called after the commit with the notifications a handler created (none twice)."""

_hooks: list[CreatedHook] = []


def on_created(hook: CreatedHook) -> Callable[[], None]:
    """Also hand every newly created notification to `hook` (in this process); returns
    a function that removes it. A hook runs after the commit, so it must not lose work
    it cannot redo: a failing hook is logged, the notification stays."""
    _hooks.append(hook)

    def remove() -> None:
        if hook in _hooks:
            _hooks.remove(hook)

    return remove


async def _deliver(runtime: Runtime, created: Sequence[Created]) -> None:
    for notification in created:
        await runtime.streams.publish(
            [user_channel(notification.account_id)], "notification", str(notification.id)
        )
    for hook in list(_hooks):
        try:
            await hook(runtime, created)
        except Exception:
            log.exception("a notification hook failed")


def _id(payload: dict[str, object], name: str) -> int:
    value = payload[name]
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an integer id, not {value!r}")
    return value


Step = Callable[[AsyncSession, dict[str, object]], Awaitable[list[Created] | None]]


async def _favourite_created(s: AsyncSession, p: dict[str, object]) -> list[Created]:
    return await service.favourited(
        s, _id(p, "account_id"), _id(p, "post_id"), _id(p, "post_author_id")
    )


async def _favourite_deleted(s: AsyncSession, p: dict[str, object]) -> None:
    await service.unfavourited(s, _id(p, "account_id"), _id(p, "post_id"), _id(p, "post_author_id"))


async def _post_created(s: AsyncSession, p: dict[str, object]) -> list[Created]:
    return await service.mentioned(s, _id(p, "post_id"))


async def _post_deleted(s: AsyncSession, p: dict[str, object]) -> None:
    await service.post_deleted(s, _id(p, "post_id"))


async def _followed(s: AsyncSession, p: dict[str, object]) -> list[Created]:
    approved = p.get("approved") is True
    return await service.followed(s, _id(p, "follower_id"), _id(p, "target_id"), approved=approved)


async def _unfollowed(s: AsyncSession, p: dict[str, object]) -> None:
    await service.unfollowed(s, _id(p, "follower_id"), _id(p, "target_id"))


async def _requested(s: AsyncSession, p: dict[str, object]) -> list[Created]:
    return await service.follow_requested(s, _id(p, "follower_id"), _id(p, "target_id"))


async def _unrequested(s: AsyncSession, p: dict[str, object]) -> None:
    await service.unrequested(s, _id(p, "follower_id"), _id(p, "target_id"))


STEPS: dict[str, Step] = {
    "favourite.created": _favourite_created,
    "favourite.deleted": _favourite_deleted,
    "post.created": _post_created,
    "post.deleted": _post_deleted,
    "account.followed": _followed,
    "account.unfollowed": _unfollowed,
    "follow_request.created": _requested,
    "follow_request.removed": _unrequested,
}


def subscribe_handlers(runtime: Runtime) -> None:
    """Handle the notification topics for this runtime, in the group `notifications`."""
    group = runtime.handler_group(GROUP)

    def handler(step: Step) -> Callable[[Event], Awaitable[None]]:
        async def handle(event: Event) -> None:
            async with session_scope(runtime.sessions) as session:
                created = await step(session, event.payload)
                if created:
                    after_commit(session, partial(_deliver, runtime, created))

        return handle

    for topic, step in STEPS.items():
        group.subscribe(topic, handler(step))
