"""The posts service: photo posts and comments, captions, hashtags, mentions, visibility.

Other services use only what is listed here.
"""

from tessera.posts.api import router as api_router
from tessera.posts.public import count_posts

__all__ = ["api_router", "count_posts"]
