"""Opaque secrets: generated at random, stored only as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

__all__ = ["hash_secret", "new_secret", "sign", "unsign"]


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random string with `nbytes` of entropy."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(value: str) -> str:
    """The stored form of a token: high-entropy secrets need no slow hash, only a one-way one."""
    return hashlib.sha256(value.encode()).hexdigest()


def sign(key: bytes, value: str) -> str:
    """`value.timestamp.mac`, for CSRF tokens and other short-lived signed values."""
    payload = f"{value}.{int(time.time())}"
    mac = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


def unsign(key: bytes, signed: str, max_age: int) -> str | None:
    """The value inside `signed` if its MAC holds and it is younger than `max_age` seconds."""
    try:
        payload, mac = signed.rsplit(".", 1)
        value, stamp = payload.rsplit(".", 1)
        age = time.time() - int(stamp)
    except ValueError:
        return None
    expected = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected) or not 0 <= age <= max_age:
        return None
    return value
