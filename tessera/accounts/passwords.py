"""Password hashing (Argon2id) and the strength rules sign-up enforces."""

from __future__ import annotations

import asyncio
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "burn_time",
    "hash_password",
    "is_common",
    "verify_password",
]

MIN_LENGTH = 8
MAX_LENGTH = 1024
"""Long enough for any passphrase, short enough that hashing cannot be used to stall us."""

_hasher = PasswordHasher()  # Argon2id with the library's RFC 9106 low-memory profile


async def hash_password(password: str) -> str:
    """Argon2 is slow on purpose, so it runs in a thread, off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored_hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _common() -> frozenset[str]:
    text = files("tessera.accounts").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def is_common(password: str) -> bool:
    return password.lower() in _common()


_DUMMY_HASH = _hasher.hash("timing-equaliser")


async def burn_time(password: str) -> None:
    """Verify against a dummy hash, so an unknown login costs as long as a wrong password."""
    await verify_password(_DUMMY_HASH, password)
