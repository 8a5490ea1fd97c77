"""The interactions service: likes (favourites) and saved posts (bookmarks).

Comments are statuses, owned by the posts service. Other services use only what is
listed here.
"""

from tessera.interactions.api import router as api_router
from tessera.interactions.public import (
    favourite,
    subscribe_handlers,
    unfavourite,
    viewer_marks,
)

__all__ = ["api_router", "favourite", "subscribe_handlers", "unfavourite", "viewer_marks"]
