"""The posts service: photo posts and comments, captions, hashtags, mentions, visibility.

Other services use only what is listed here.
"""

from tessera.posts.api import router as api_router
from tessera.posts.public import (
    BulkPost,
    FeedFacts,
    Marks,
    NotificationFacts,
    ViewerMarks,
    account_gallery,
    add_favourites,
    authors_of,
    bulk_insert_posts,
    comments_of,
    count_photo_posts,
    count_posts,
    create_post,
    delete_post,
    feed_facts,
    home_posts_of,
    notification_facts,
    public_post_ids,
    render_statuses,
    use_viewer_marks,
    visible_post_author,
)

__all__ = [
    "BulkPost",
    "FeedFacts",
    "Marks",
    "NotificationFacts",
    "ViewerMarks",
    "account_gallery",
    "add_favourites",
    "api_router",
    "authors_of",
    "bulk_insert_posts",
    "comments_of",
    "count_photo_posts",
    "count_posts",
    "create_post",
    "delete_post",
    "feed_facts",
    "home_posts_of",
    "notification_facts",
    "public_post_ids",
    "render_statuses",
    "use_viewer_marks",
    "visible_post_author",
]
