"""Web Push subscriptions: checking and keeping them (one per access token, as on
Mastodon), and choosing which of them a new notification goes to."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts
from tessera.core.db import utcnow
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.ids import new_id
from tessera.core.vapid import decode_base64
from tessera.notifications import push_repository
from tessera.notifications.push_models import ALERTS, POLICIES, PushSubscription
from tessera.notifications.service import Created

__all__ = [
    "MAX_ENDPOINT",
    "Delivery",
    "Keys",
    "change",
    "check_data",
    "check_keys",
    "deliveries",
    "forget",
    "subscribe",
    "subscription",
    "unsubscribe",
]

MAX_ENDPOINT = 2048
"""The longest endpoint URL kept (push services' are a few hundred characters)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """A checked subscription: where to push and how to encrypt (keys as base64url)."""

    endpoint: str
    p256dh: str
    auth: str


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _endpoint_problem(endpoint: str, allow_http_loopback: bool) -> str | None:
    if len(endpoint) > MAX_ENDPOINT:
        return f"is too long (at most {MAX_ENDPOINT} characters)"
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if not host:
        return "must be an https URL"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_http_loopback and _loopback(host):
        return None
    return "must be an https URL"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _p256dh(raw: bytes) -> bool:
    if len(raw) != 65 or raw[0] != 4:
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:  # not a point of the curve
        return False
    return True


def check_keys(endpoint: str, p256dh: str, auth: str, *, allow_http_loopback: bool) -> Keys:
    """The subscription if it can be pushed to; a 422 naming each broken field otherwise.

    The endpoint must be https (plain http only on loopback hosts, and only where the
    operator allows it); `p256dh` an uncompressed P-256 point and `auth` 16 bytes, each in
    either base64 alphabet (Mastodon.py sends the standard one, browsers the url-safe one).
    """
    errors: dict[str, list[tuple[str, str]]] = {}
    problem = _endpoint_problem(endpoint, allow_http_loopback)
    if problem:
        errors["subscription[endpoint]"] = [("ERR_INVALID", problem)]
    try:
        key = decode_base64(p256dh)
    except ValueError:
        key = b""
    if not _p256dh(key):
        errors["subscription[keys][p256dh]"] = [
            ("ERR_INVALID", "must be a P-256 public key (65 bytes, uncompressed, base64)")
        ]
    try:
        secret = decode_base64(auth)
    except ValueError:
        secret = b""
    if len(secret) != 16:
        errors["subscription[keys][auth]"] = [("ERR_INVALID", "must be 16 bytes in base64")]
    if errors:
        raise ValidationFailed(errors)
    return Keys(endpoint, _b64url(key), _b64url(secret))


def check_data(alerts: dict[str, bool], policy: str | None) -> tuple[list[str], str]:
    """The alerts switched on (unknown names are ignored) and the policy (`all` unless
    given; anything outside Mastodon's four is a 422)."""
    if policy is not None and policy not in POLICIES:
        raise ValidationFailed.one(
            "data[policy]", "ERR_INCLUSION", f"must be one of {', '.join(POLICIES)}"
        )
    return [name for name in ALERTS if alerts.get(name)], policy or "all"


async def subscribe(
    session: AsyncSession,
    account_id: int,
    token_id: int,
    keys: Keys,
    alerts: list[str],
    policy: str,
) -> PushSubscription:
    """The token's subscription, replacing any it had (a new id, as on Mastodon)."""
    now = utcnow()
    await push_repository.put(
        session,
        {
            "id": new_id(account_id),
            "account_id": account_id,
            "token_id": token_id,
            "endpoint": keys.endpoint,
            "p256dh": keys.p256dh,
            "auth": keys.auth,
            "alerts": alerts,
            "policy": policy,
            "created_at": now,
            "updated_at": now,
        },
    )
    return await subscription(session, token_id)


async def subscription(session: AsyncSession, token_id: int) -> PushSubscription:
    """The token's subscription; a 404 when it has none."""
    found = await push_repository.by_token(session, token_id)
    if found is None:
        raise NotFound()
    return found


async def change(
    session: AsyncSession, token_id: int, alerts: list[str], policy: str
) -> PushSubscription:
    """Replace what the token's subscription receives (its alerts and policy as a whole,
    as Mastodon does: alerts not sent are switched off); a 404 when it has none."""
    found = await subscription(session, token_id)
    found.alerts = alerts
    found.policy = policy
    found.updated_at = utcnow()
    await session.flush()
    return found


async def unsubscribe(session: AsyncSession, token_id: int) -> None:
    await push_repository.delete_token(session, token_id)


async def forget(session: AsyncSession, subscription_ids: Collection[int]) -> None:
    """The push service said these endpoints are gone (404, 410)."""
    await push_repository.delete_ids(session, subscription_ids)


# -- who hears of a new notification -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification for one subscription."""

    subscription_id: int
    keys: Keys
    notification: Created


async def deliveries(session: AsyncSession, created: Sequence[Created]) -> list[Delivery]:
    """Each subscription of each notification's recipient whose alerts include the
    notification's type and whose policy admits its sender. Subscriptions whose token was
    revoked or expired since are deleted here (Mastodon deletes them with the token)."""
    subscriptions = await push_repository.of_accounts(
        session, {notification.account_id for notification in created}
    )
    if not subscriptions:
        return []
    live = await accounts.live_token_ids(session, [s.token_id for s in subscriptions])
    await push_repository.delete_ids(
        session, [s.id for s in subscriptions if s.token_id not in live]
    )
    admitted: dict[tuple[str, int, int], bool] = {}
    out = []
    for notification in created:
        for sub in subscriptions:
            if sub.account_id != notification.account_id or sub.token_id not in live:
                continue
            if notification.type not in sub.alerts:
                continue
            cause = (sub.policy, notification.account_id, notification.from_account_id)
            if cause not in admitted:
                admitted[cause] = await _admits(session, *cause)
            if admitted[cause]:
                keys = Keys(sub.endpoint, sub.p256dh, sub.auth)
                out.append(Delivery(sub.id, keys, notification))
    return out


async def _admits(session: AsyncSession, policy: str, recipient: int, sender: int) -> bool:
    if policy == "all":
        return True
    if policy == "followed":  # only accounts the recipient follows
        return sender in await accounts.followed_among(session, recipient, [sender])
    if policy == "follower":  # only the recipient's followers
        return recipient in await accounts.followed_among(session, sender, [recipient])
    return False  # none
