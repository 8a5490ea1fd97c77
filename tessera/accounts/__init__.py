"""The accounts service: people, credentials, OAuth 2, profiles and the follow graph.

Other services use only what is listed here.
"""

# The dependencies come first: other services' routes import them while this package's
# own routes (which use the media service) are still being imported.
from tessera.accounts.auth import Caller, caller_with, optional_caller, user_id_with, user_with
from tessera.accounts.public import count_accounts, create_user

from tessera.accounts.api import router as api_router  # isort: skip
from tessera.accounts.oauth_api import router as oauth_router  # isort: skip

__all__ = [
    "Caller",
    "api_router",
    "caller_with",
    "count_accounts",
    "create_user",
    "oauth_router",
    "optional_caller",
    "user_id_with",
    "user_with",
]
