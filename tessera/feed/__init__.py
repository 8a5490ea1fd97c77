"""The feed service: home timelines (hybrid fan-out), the public timeline.

Other services use only what is listed here.
"""

from tessera.feed.api import router as api_router
from tessera.feed.public import home_ids, subscribe_handlers

__all__ = ["api_router", "home_ids", "subscribe_handlers"]
