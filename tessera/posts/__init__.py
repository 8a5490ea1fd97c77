"""The posts service: photo posts and comments, captions, hashtags, mentions, visibility.

Other services use only what is listed here.
"""

from tessera.posts.api import router as api_router
from tessera.posts.public import (
    BulkPost,
    FeedFacts,
    authors_of,
    bulk_insert_posts,
    count_posts,
    feed_facts,
    home_posts_of,
    public_post_ids,
    render_statuses,
)

__all__ = [
    "BulkPost",
    "FeedFacts",
    "api_router",
    "authors_of",
    "bulk_insert_posts",
    "count_posts",
    "feed_facts",
    "home_posts_of",
    "public_post_ids",
    "render_statuses",
]
