"""The notifications service: notifications made by event handlers, read markers, and
what live streams deliver.

Other services use only what is listed here.
"""

from tessera.notifications.api import router as api_router
from tessera.notifications.public import (
    GROUP,
    Created,
    CreatedHook,
    WebPush,
    mark_read,
    notification_page,
    on_created,
    render_notifications,
    start_web_push,
    subscribe_handlers,
    unread_count,
)
from tessera.notifications.push_api import router as push_router

__all__ = [
    "GROUP",
    "Created",
    "CreatedHook",
    "WebPush",
    "api_router",
    "mark_read",
    "notification_page",
    "on_created",
    "push_router",
    "render_notifications",
    "start_web_push",
    "subscribe_handlers",
    "unread_count",
]
