"""Mastodon.py 2.x Web Push subscriptions against a real `tessera serve`, unchanged, and a
push it receives from that process, decrypted with the keys Mastodon.py generated."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from mastodon import MastodonNotFoundError

from tests.conftest import Backend
from tests.e2e.conftest import ClientApp, png, sign_up
from tests.notifications.webpush import PushService, Subscriber, running_push_service
from tests.processes import serve, stop

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `tessera serve` that takes the test's plain-http loopback push endpoints."""
    log = tmp_path_factory.mktemp("e2e-push") / "server.log"
    env = {**os.environ, **backend.env, "TESSERA_PUSH_ALLOW_HTTP_LOOPBACK": "true"}
    url, process = serve(env, log)
    try:
        yield url
    finally:
        stop(process)
    errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
    assert not errors, "the server logged errors:\n" + "\n".join(errors)


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    with running_push_service() as service:
        yield service


def test_push_subscription_set_update_delete_and_a_push(
    server: str, client_app: ClientApp, push_service: PushService
) -> None:
    author = sign_up(server, client_app, "pushee")
    fan = sign_up(server, client_app, "pusher")
    private, public = author.api.push_subscription_generate_keys()
    endpoint = push_service.url("mastodon-py")

    subscription = author.api.push_subscription_set(
        endpoint, public, favourite_events=True, follow_events=False, policy="all"
    )
    assert subscription.endpoint == endpoint
    assert subscription.alerts.favourite is True
    assert subscription.alerts.follow is False
    assert subscription.policy == "all"
    assert subscription.server_key == author.api.instance_v2().configuration.vapid.public_key
    assert author.api.push_subscription().id == subscription.id

    photo = author.api.media_post(png(64, 48), mime_type="image/png")
    status = author.api.status_post("Push me", media_ids=[photo])
    fan.api.status_favourite(status.id)

    [push] = push_service.wait_for(endpoint)
    # Mastodon.py annotates these as str; they are the int scalar and the raw bytes.
    key = ec.derive_private_key(cast(int, private["privkey"]), ec.SECP256R1())
    payload = Subscriber(key, cast(bytes, private["auth"])).decrypt(push)
    [notification] = author.api.notifications()
    assert payload["notification_type"] == "favourite"
    assert str(payload["notification_id"]) == str(notification.id)
    assert payload["body"] == "Push me"

    updated = author.api.push_subscription_update(follow_events=True)
    assert (updated.alerts.follow, updated.alerts.favourite) == (True, False)
    author.api.push_subscription_delete()
    with pytest.raises(MastodonNotFoundError):
        author.api.push_subscription()
