"""The posts service: photo posts and comments, captions, hashtags, mentions, visibility.

Other services use only what is listed here.
"""

from tessera.posts.api import router as api_router
from tessera.posts.public import (
    FeedFacts,
    authors_of,
    count_posts,
    feed_facts,
    home_posts_of,
    public_post_ids,
    render_statuses,
)

__all__ = [
    "FeedFacts",
    "api_router",
    "authors_of",
    "count_posts",
    "feed_facts",
    "home_posts_of",
    "public_post_ids",
    "render_statuses",
]
