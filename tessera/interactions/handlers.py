"""The interactions service's event handlers, subscribed to a runtime's relay at app start.

Each opens its own transaction and may run twice (delivery is at-least-once) with the
same outcome.
"""

from __future__ import annotations

from tessera.core.db import session_scope
from tessera.core.outbox import Event
from tessera.core.runtime import Runtime
from tessera.interactions import service

__all__ = ["subscribe_handlers"]


def subscribe_handlers(runtime: Runtime) -> None:
    """On `post.deleted`, drop the post's likes and saves."""

    async def post_deleted(event: Event) -> None:
        post_id = event.payload["post_id"]
        if not isinstance(post_id, int):
            raise TypeError(f"post_id must be an integer id, not {post_id!r}")
        async with session_scope(runtime.sessions) as session:
            await service.forget_post(session, post_id)

    runtime.handlers.subscribe("post.deleted", post_deleted)
