"""The server's VAPID identity (RFC 8292): the P-256 key that signs every Web Push request.

Clients subscribe in the browser with its public key (`applicationServerKey`), so it must
be the same in every process of an instance and must not change: it is either configured
(`TESSERA_VAPID_PRIVATE_KEY`) or derived from the instance's secret key, so nothing else
needs storing or sharing. It lives in the kernel because three places show or use it: the
instance and app entities, and the notifications service that sends the pushes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from tessera.core.config import Settings

__all__ = [
    "DEFAULT_CONTACT",
    "contact",
    "decode_base64",
    "parse_private_key",
    "private_key",
    "public_key",
]

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""The number of points of P-256: private keys are the integers 1 … order - 1."""
DERIVATION_LABEL = b"tessera vapid private key v1"
DEFAULT_CONTACT = "mailto:admin@localhost"


def decode_base64(text: str) -> bytes:
    """Base64 in either alphabet (url-safe or standard), padded or not, as clients send
    keys (Mastodon.py uses the standard one, browsers the url-safe one); ValueError if
    it is not base64."""
    cleaned = text.strip().rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64") from None


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from the base64url of its raw big-endian scalar (Mastodon's
    `VAPID_PRIVATE_KEY`, py-vapid's raw form); ValueError if it is not one."""
    raw = decode_base64(text)
    scalar = int.from_bytes(raw, "big")
    if not raw or len(raw) > 32 or not 0 < scalar < P256_ORDER:
        raise ValueError("is not a P-256 private key (base64url of 32 raw bytes)")
    return ec.derive_private_key(scalar, ec.SECP256R1())


@lru_cache(maxsize=8)
def _key(configured: str | None, secret: bytes) -> ec.EllipticCurvePrivateKey:
    if configured:
        return parse_private_key(configured)
    # 512 bits reduced into 1 … order - 1: the bias is about 2**-256, and the same
    # secret gives the same key in every process.
    digest = hmac.new(secret, DERIVATION_LABEL, hashlib.sha512).digest()
    scalar = int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def private_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The signing key: the configured one, else one derived from the secret key."""
    return _key(settings.vapid_private_key, settings.signing_key)


def public_key(settings: Settings) -> str:
    """The public key as clients want it (`server_key`, the instance's `vapid.public_key`):
    the uncompressed point, base64url, padded as Mastodon writes it."""
    point = (
        private_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.urlsafe_b64encode(point).decode()


def contact(settings: Settings) -> str:
    """The `sub` claim: how a push service reaches the operator. Configured, else the
    public URL's host when it is https, else a placeholder mailbox."""
    if settings.vapid_contact:
        return settings.vapid_contact
    if settings.public_url and settings.public_url.startswith("https://"):
        return f"https://{urlsplit(settings.public_url).hostname}"
    return DEFAULT_CONTACT
