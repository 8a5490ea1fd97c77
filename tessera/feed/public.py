"""What the app factory calls; the feed service offers other services nothing yet."""

from __future__ import annotations

from tessera.feed.handlers import subscribe_handlers

__all__ = ["subscribe_handlers"]
