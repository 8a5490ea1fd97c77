"""The accounts service: people, credentials, OAuth 2, profiles and the follow graph.

Other services use only what is listed here.
"""

# The dependencies come first: other services' routes import them while this package's
# own routes (which use the media service) are still being imported.
from tessera.accounts.auth import (
    Caller,
    caller_for_token,
    caller_with,
    optional_caller,
    user_id_with,
    user_with,
)
from tessera.accounts.public import (
    BulkAccount,
    BulkFollow,
    PostingDefaults,
    account_exists,
    applications,
    bulk_insert_accounts,
    bulk_insert_follows,
    count_accounts,
    create_user,
    follow_requested,
    followed_among,
    followed_ids,
    follower_ids,
    followers_count,
    hash_password,
    ids_by_username,
    live_token_ids,
    locked_among,
    posting_defaults,
    profile_keys_in_use,
    record_post,
    render_accounts,
)

from tessera.accounts.api import router as api_router  # isort: skip
from tessera.accounts.oauth_api import router as oauth_router  # isort: skip

__all__ = [
    "BulkAccount",
    "BulkFollow",
    "Caller",
    "PostingDefaults",
    "account_exists",
    "api_router",
    "applications",
    "bulk_insert_accounts",
    "bulk_insert_follows",
    "caller_for_token",
    "caller_with",
    "count_accounts",
    "create_user",
    "follow_requested",
    "followed_among",
    "followed_ids",
    "follower_ids",
    "followers_count",
    "hash_password",
    "ids_by_username",
    "live_token_ids",
    "locked_among",
    "oauth_router",
    "optional_caller",
    "posting_defaults",
    "profile_keys_in_use",
    "record_post",
    "render_accounts",
    "user_id_with",
    "user_with",
]
