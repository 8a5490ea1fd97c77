"""Web Push (RFC 8030) of new notifications: encrypted for each subscriber (RFC 8291,
`aes128gcm`) and signed with the server's VAPID key (RFC 8292), through pywebpush.

`start_web_push(runtime)` hooks onto `on_created`, in whichever process ran the
notification handler (the worker with a broker, else the server). Sending runs in the
background of that process, so a slow push service never holds up event handling: each
request has a bounded timeout, requests go out concurrently (a bounded number at a time),
and a failed push is logged and not retried (a notification is still in the list; a push
is only a nudge). A push service's 404 or 410 deletes the subscription.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core import vapid
from tessera.core.db import session_scope
from tessera.core.runtime import Links, Runtime
from tessera.notifications import push_service, render, repository
from tessera.notifications.handlers import on_created
from tessera.notifications.push_service import Delivery
from tessera.notifications.service import Created

__all__ = ["TIMEOUT", "TTL", "WebPush", "payload", "start_web_push"]

log = logging.getLogger(__name__)

TIMEOUT = 10.0
"""Seconds one request to a push service may take, connecting included."""
TTL = 48 * 3600
"""How long a push service keeps a push for a subscriber that is offline (as Mastodon)."""
URGENCY = "normal"
CONCURRENCY = 32
"""Requests to push services in flight at once, per process."""
BACKLOG = 1000
"""Batches of notifications waiting to be pushed, per process; beyond it, pushes are
dropped (and logged) rather than piling up in memory."""
CLOSE_GRACE = 5.0
"""Seconds pushes under way may still take when the process stops."""
GONE = frozenset({404, 410})
"""What a push service answers for a subscription that no longer exists (RFC 8030)."""
BODY_LENGTH = 140
FALLBACK_BASE = "http://localhost"
"""Links in pushes without `TESSERA_PUBLIC_URL` (no request to take the host from)."""

TITLES = {
    "favourite": "{name} liked your post",
    "mention": "{name} mentioned you",
    "follow": "{name} started following you",
    "follow_request": "{name} asked to follow you",
}
COMMENT_TITLE = "{name} commented on your post"

_BREAKS = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")


def _plain(markup: str) -> str:
    """The text of our own (escaped) status or bio HTML, for a notification's body."""
    return html.unescape(_TAGS.sub("", _BREAKS.sub("\n", markup))).strip()


def _shortened(text: str) -> str:
    return text if len(text) <= BODY_LENGTH else text[: BODY_LENGTH - 1].rstrip() + "…"


def payload(entity: dict[str, Any], recipient_id: int) -> bytes:
    """What Mastodon pushes (its `Web::NotificationSerializer`) for a Notification
    entity, except `access_token`: Mastodon hands the subscriber's token back so that a
    service worker can call the API; this server keeps only tokens' hashes, and a push
    should carry no credential anyway."""
    account = entity["account"]
    name = account["display_name"] or account["username"]
    status = entity.get("status")
    if status is not None:
        text = status["spoiler_text"] or _plain(status["content"])
    else:
        text = _plain(account["note"])
    template = TITLES.get(entity["type"], "{name}")
    if (
        entity["type"] == "mention"
        and status
        and status["in_reply_to_account_id"] == str(recipient_id)
    ):
        template = COMMENT_TITLE
    return orjson.dumps(
        {
            "preferred_locale": "en",
            "notification_id": int(entity["id"]),
            "notification_type": entity["type"],
            "icon": account["avatar_static"],
            "title": template.format(name=name),
            "body": _shortened(text),
        }
    )


class WebPush:
    """The pushes of one runtime's notifications; `close()` before the runtime closes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Not strict: py-vapid's own `sub` pattern refuses an https contact with a port;
        # the setting is checked when it is read.
        self._signer = Vapid(vapid.private_key(runtime.settings), conf={"no-strict": True})
        self._contact = vapid.contact(runtime.settings)
        self._links = Links(runtime.settings.public_url or FALLBACK_BASE, runtime.storage)
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._unhook = on_created(self._created)

    async def _created(self, runtime: Runtime, created: Sequence[Created]) -> None:
        # The hooks are process-wide; several runtimes share a process in the tests.
        if runtime is not self.runtime or not created:
            return
        if len(self._tasks) >= BACKLOG:
            log.warning("web push backlog full: %d notifications not pushed", len(created))
            return
        task = asyncio.get_running_loop().create_task(self._push(created))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every push started so far has been answered (or has failed)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        self._unhook()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=CLOSE_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _push(self, created: Sequence[Created]) -> None:
        try:
            async with session_scope(self.runtime.sessions) as session:
                messages = await self._messages(session, created)
            answers = await asyncio.gather(*(self._send(d, body) for d, body in messages))
            gone = [
                d.subscription_id
                for (d, _), status in zip(messages, answers, strict=True)
                if status in GONE
            ]
            if gone:
                async with session_scope(self.runtime.sessions) as session:
                    await push_service.forget(session, gone)
        except Exception:
            log.exception("web push of %d notifications failed", len(created))

    async def _messages(
        self, session: AsyncSession, created: Sequence[Created]
    ) -> list[tuple[Delivery, bytes]]:
        """Each delivery with its payload, rendered as the recipient would read the
        notification: one gone meanwhile, or about a post they may no longer see, is
        not pushed."""
        chosen = await push_service.deliveries(session, created)
        bodies: dict[int, bytes] = {}
        for recipient in {d.notification.account_id for d in chosen}:
            ids = {d.notification.id for d in chosen if d.notification.account_id == recipient}
            rows = await repository.by_ids(session, recipient, ids)
            for entity in await render.notifications(session, rows, recipient, self._links):
                bodies[int(entity["id"])] = payload(entity, recipient)
        return [(d, bodies[d.notification.id]) for d in chosen if d.notification.id in bodies]

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        return self._http

    async def _send(self, delivery: Delivery, body: bytes) -> int | None:
        """POST one push; the push service's status, or None when it could not be reached.
        Logs say which subscription and push service, never the endpoint (a secret)."""
        keys = delivery.keys
        host = urlsplit(keys.endpoint).hostname
        async with self._slots:
            try:
                response = await webpush_async(
                    subscription_info={
                        "endpoint": keys.endpoint,
                        "keys": {"p256dh": keys.p256dh, "auth": keys.auth},
                    },
                    data=body.decode(),
                    vapid_private_key=self._signer,
                    vapid_claims={"sub": self._contact},
                    content_encoding="aes128gcm",
                    timeout=TIMEOUT,
                    ttl=TTL,
                    headers={"Urgency": URGENCY},
                    aiohttp_session=self._session(),
                )
            except WebPushException as exc:
                status: int | None = exc.status_code
                if status not in GONE:
                    log.warning(
                        "web push to subscription %d (%s) refused: %s",
                        delivery.subscription_id,
                        host,
                        status,
                    )
                return status
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "web push to subscription %d (%s) failed: %s",
                    delivery.subscription_id,
                    host,
                    type(exc).__name__,
                )
                return None
        return int(response.status)


def start_web_push(runtime: Runtime) -> WebPush:
    """Push this runtime's new notifications to their recipients' subscriptions."""
    return WebPush(runtime)
