"""The accounts service: people, credentials, OAuth 2, profiles and the follow graph.

Other services use only what is listed here.
"""

from tessera.accounts.api import router as api_router
from tessera.accounts.auth import Caller, caller_with, optional_caller, user_with
from tessera.accounts.oauth_api import router as oauth_router
from tessera.accounts.public import count_accounts, create_user

__all__ = [
    "Caller",
    "api_router",
    "caller_with",
    "count_accounts",
    "create_user",
    "oauth_router",
    "optional_caller",
    "user_with",
]
