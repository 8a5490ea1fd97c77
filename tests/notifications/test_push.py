"""Web Push: subscriptions through the API, and notifications pushed encrypted (RFC 8291)
and signed (VAPID, RFC 8292) to a push service the test runs on 127.0.0.1, which
decrypts and checks them with nothing of the server's code."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from sqlalchemy import func, select

from tessera.core import vapid
from tessera.core.config import ConfigError, load_settings
from tessera.notifications.push import TTL
from tessera.notifications.push_models import ALERTS, PushSubscription
from tests.accounts.helpers import app_of, bearer, db, login, register_app, revoke, runtime_of
from tests.broker import RABBIT_URL, Names
from tests.conftest import AppFactory, MakeUser, OAuthClient, User, sign_up_user
from tests.feed.helpers import follow, settle
from tests.notifications.webpush import (
    PushService,
    Subscriber,
    b64url,
    running_push_service,
    vapid_claims,
)
from tests.posts.helpers import comment, publish

PUSH = "/api/v1/push/subscription"
PUBLIC_URL = "http://tessera.test"
DEADLINE = 30.0


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    with running_push_service() as service:
        yield service


@pytest.fixture(scope="module")
async def app(make_client: AppFactory) -> httpx.AsyncClient:
    """An app that takes the test's plain-http loopback endpoints; every action of these
    tests goes through it, so its worker is the one that pushes."""
    return await make_client(push_allow_http_loopback=True, public_url=PUBLIC_URL)


async def person(app: httpx.AsyncClient, oauth_client: OAuthClient, stem: str) -> User:
    return await sign_up_user(app, oauth_client, stem)


def form(
    endpoint: str, subscriber: Subscriber, alerts: tuple[str, ...] = (), **data: str
) -> dict[str, str]:
    fields = {
        "subscription[endpoint]": endpoint,
        "subscription[keys][p256dh]": subscriber.p256dh,
        "subscription[keys][auth]": subscriber.auth,
    }
    fields.update({f"data[alerts][{name}]": "true" for name in alerts})
    fields.update({f"data[{name}]": value for name, value in data.items()})
    return fields


async def subscribe(
    app: httpx.AsyncClient,
    token: str,
    endpoint: str,
    subscriber: Subscriber,
    alerts: tuple[str, ...] = ALERTS,
    **data: str,
) -> dict[str, Any]:
    response = await app.post(
        PUSH, headers=bearer(token), data=form(endpoint, subscriber, alerts, **data)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def pushed(app: httpx.AsyncClient) -> None:
    """Wait until every event was handled and every push it caused was answered."""
    await settle(app)
    await app_of(app).state.web_push.idle()


async def like(app: httpx.AsyncClient, user: User, status_id: str) -> None:
    response = await app.post(f"/api/v1/statuses/{status_id}/favourite", headers=user.auth)
    assert response.status_code == 200, response.text
    await pushed(app)


async def notification_ids(app: httpx.AsyncClient, user: User) -> list[str]:
    response = await app.get("/api/v1/notifications", headers=user.auth)
    return [n["id"] for n in response.json()]


async def stored(app: httpx.AsyncClient, user: User) -> int:
    async with db(app) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(PushSubscription)
            .where(PushSubscription.account_id == int(user.id))
        )
    return count or 0


# -- the API -----------------------------------------------------------------------------


async def test_a_token_subscribes_sees_changes_and_drops_its_subscription(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    user = await person(app, oauth_client, "subscriber")
    endpoint = push_service.url("api")
    created = await subscribe(
        app, user.token, endpoint, Subscriber(), ("favourite", "follow"), policy="followed"
    )
    instance = (await app.get("/api/v2/instance")).json()
    server_key = instance["configuration"]["vapid"]["public_key"]
    assert created == {
        "id": created["id"],
        "endpoint": endpoint,
        "standard": True,
        "alerts": {name: name in ("favourite", "follow") for name in ALERTS},
        "policy": "followed",
        "server_key": server_key,
    }
    assert len(vapid.decode_base64(server_key)) == 65
    assert (await app.get(PUSH, headers=user.auth)).json() == created

    # PUT replaces the data as a whole, as on Mastodon: alerts left out are switched off.
    changed = await app.put(
        PUSH, headers=user.auth, json={"data": {"alerts": {"mention": True}, "policy": "none"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["alerts"] == {name: name == "mention" for name in ALERTS}
    assert changed.json()["policy"] == "none"
    assert changed.json()["endpoint"] == endpoint

    # A new subscription replaces the token's old one; nested JSON as clients send it.
    other = Subscriber()
    replaced = await app.post(
        PUSH,
        headers=user.auth,
        json={
            "subscription": {
                "endpoint": push_service.url("api-2"),
                "keys": {"p256dh": other.p256dh, "auth": other.auth},
            },
            "data": {"alerts": {"follow": True, "no_such_alert": True}},
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] != created["id"]
    assert replaced.json()["alerts"] == {name: name == "follow" for name in ALERTS}
    assert replaced.json()["policy"] == "all"
    assert (await app.get(PUSH, headers=user.auth)).json() == replaced.json()
    assert await stored(app, user) == 1

    assert (await app.delete(PUSH, headers=user.auth)).json() == {}
    assert (await app.get(PUSH, headers=user.auth)).status_code == 404
    assert (await app.put(PUSH, headers=user.auth, data={})).status_code == 404
    assert (await app.delete(PUSH, headers=user.auth)).json() == {}
    assert await stored(app, user) == 0


async def test_each_token_has_a_subscription_of_its_own(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    user = await person(app, oauth_client, "twodevices")
    phone = (await login(app, oauth_client, user, "read push"))["access_token"]
    await subscribe(app, user.token, push_service.url("laptop"), Subscriber())
    await subscribe(app, phone, push_service.url("phone"), Subscriber())

    assert (await app.get(PUSH, headers=bearer(phone))).json()["endpoint"].endswith("/phone")
    assert (await app.get(PUSH, headers=user.auth)).json()["endpoint"].endswith("/laptop")
    await app.delete(PUSH, headers=bearer(phone))
    assert (await app.get(PUSH, headers=user.auth)).status_code == 200


async def test_keys_in_the_standard_alphabet_and_a_top_level_policy_are_understood(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    """What Mastodon.py sends: keys with `base64.b64encode`, `policy` outside `data`."""
    user = await person(app, oauth_client, "mastodonpy")
    subscriber = Subscriber()
    response = await app.post(
        PUSH,
        headers=user.auth,
        data={
            "subscription[endpoint]": push_service.url("standard-b64"),
            "subscription[keys][p256dh]": base64.b64encode(subscriber.public_bytes).decode(),
            "subscription[keys][auth]": base64.b64encode(subscriber.auth_secret).decode(),
            "data[alerts][favourite]": "1",
            "policy": "follower",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["policy"] == "follower"
    assert response.json()["alerts"]["favourite"] is True


def _bad_point() -> str:
    """65 bytes shaped like an uncompressed point that is not on P-256."""
    return b64url(b"\x04" + b"\x01" * 64)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subscription[endpoint]": "http://push.example/abc"}, "subscription[endpoint]"),
        ({"subscription[endpoint]": "ftp://push.example/abc"}, "subscription[endpoint]"),
        ({"subscription[endpoint]": "not a url"}, "subscription[endpoint]"),
        ({"subscription[endpoint]": "https://push.example:99999/x"}, "subscription[endpoint]"),
        (
            {"subscription[endpoint]": "https://push.example/" + "a" * 2100},
            "subscription[endpoint]",
        ),
        (
            {"subscription[keys][p256dh]": b64url(b"\x04" + b"\x01" * 10)},
            "subscription[keys][p256dh]",
        ),
        ({"subscription[keys][p256dh]": _bad_point()}, "subscription[keys][p256dh]"),
        ({"subscription[keys][p256dh]": "%%% not base64 %%%"}, "subscription[keys][p256dh]"),
        ({"subscription[keys][auth]": b64url(b"x" * 15)}, "subscription[keys][auth]"),
        ({"subscription[keys][auth]": ""}, "subscription[keys][auth]"),
        ({"data[policy]": "friends"}, "data[policy]"),
        ({"data[alerts][favourite]": "maybe"}, "alerts"),
    ],
)
async def test_a_bad_subscription_is_refused_and_nothing_is_stored(
    app: httpx.AsyncClient,
    oauth_client: OAuthClient,
    push_service: PushService,
    change: dict[str, str],
    field: str,
) -> None:
    user = await person(app, oauth_client, "badsub")
    fields = {**form(push_service.url("bad"), Subscriber()), **change}

    response = await app.post(PUSH, headers=user.auth, data=fields)

    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("Validation failed")
    assert field in response.json()["details"]
    assert (await app.get(PUSH, headers=user.auth)).status_code == 404
    assert await stored(app, user) == 0


async def test_a_bad_replacement_leaves_the_subscription_as_it_was(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    user = await person(app, oauth_client, "keepsub")
    before = await subscribe(app, user.token, push_service.url("kept"), Subscriber())
    missing = {"subscription[endpoint]": push_service.url("kept-2")}

    response = await app.post(PUSH, headers=user.auth, data=missing)
    assert response.status_code == 422
    assert "subscription[keys][p256dh]" in response.json()["details"]
    bad_policy = await app.put(PUSH, headers=user.auth, data={"data[policy]": "some"})
    assert bad_policy.status_code == 422

    assert (await app.get(PUSH, headers=user.auth)).json() == before


async def test_plain_http_endpoints_need_the_operator_to_allow_loopback(
    client: httpx.AsyncClient, make_user: MakeUser, push_service: PushService
) -> None:
    user = await make_user("loopback")
    response = await client.post(
        PUSH, headers=user.auth, data=form(push_service.url("refused"), Subscriber())
    )
    assert response.status_code == 422
    assert "https" in response.json()["error"]


async def test_only_a_user_token_with_the_push_scope_may_subscribe(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    user = await person(app, oauth_client, "scoped")
    fields = form(push_service.url("scoped"), Subscriber())
    no_push = (await login(app, oauth_client, user, "read write follow"))["access_token"]
    registered = await register_app(app)
    app_only = await app.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
            "scope": "read write follow push",
        },
    )

    for method in ("GET", "POST", "PUT", "DELETE"):
        refused = await app.request(method, PUSH, headers=bearer(no_push), data=fields)
        assert refused.status_code == 403, refused.text
        assert "error" in refused.json()
        anonymous = await app.request(method, PUSH, data=fields)
        assert anonymous.status_code == 401, anonymous.text
        bad_token = await app.request(method, PUSH, headers=bearer("nope"), data=fields)
        assert bad_token.status_code == 401
        no_user = await app.request(
            method, PUSH, headers=bearer(app_only.json()["access_token"]), data=fields
        )
        assert no_user.status_code == 422, no_user.text
    assert await stored(app, user) == 0


# -- pushes ------------------------------------------------------------------------------


async def test_a_like_is_pushed_encrypted_and_signed_with_the_server_key(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    author = await person(app, oauth_client, "liked")
    fan = await person(app, oauth_client, "fan")
    subscriber = Subscriber()
    endpoint = push_service.url("like")
    subscription = await subscribe(app, author.token, endpoint, subscriber, ("favourite",))
    status = await publish(app, author, "Sunrise over the <harbour> & the bay")

    await like(app, fan, status["id"])

    [push] = push_service.pushes(endpoint)
    assert push.headers["ttl"] == str(TTL)
    assert push.headers["urgency"] == "normal"
    claims = vapid_claims(push, subscription["server_key"])
    assert claims["aud"] == endpoint.rsplit("/push/", 1)[0]
    assert claims["sub"] == "mailto:admin@localhost"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    [notification] = (await app.get("/api/v1/notifications", headers=author.auth)).json()
    assert subscriber.decrypt(push) == {
        "preferred_locale": "en",
        "notification_id": int(notification["id"]),
        "notification_type": "favourite",
        "icon": notification["account"]["avatar_static"],
        "title": f"{fan.username} liked your post",
        "body": "Sunrise over the <harbour> & the bay",
    }
    assert notification["account"]["avatar_static"].startswith(PUBLIC_URL)


async def test_follows_and_comments_are_pushed_with_their_own_titles(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    author = await person(app, oauth_client, "followed")
    fan = await person(app, oauth_client, "follower")
    bio = await app.patch(
        "/api/v1/accounts/update_credentials",
        headers=fan.auth,
        data={"display_name": "Fan Club", "note": "I take pictures\n\nof cats"},
    )
    assert bio.status_code == 200, bio.text
    subscriber = Subscriber()
    endpoint = push_service.url("follow")
    await subscribe(app, author.token, endpoint, subscriber, ("follow", "mention"))
    status = await publish(app, author, "A cat")

    await follow(app, fan, author)
    await comment(app, fan, status["id"], "What a cat!")
    await pushed(app)

    first, second = (subscriber.decrypt(push) for push in push_service.pushes(endpoint))
    assert (first["notification_type"], first["title"]) == (
        "follow",
        "Fan Club started following you",
    )
    assert first["body"] == "I take pictures\nof cats"
    assert (second["notification_type"], second["title"]) == (
        "mention",
        "Fan Club commented on your post",
    )
    assert second["body"] == "What a cat!"
    ids = await notification_ids(app, author)
    assert [second["notification_id"], first["notification_id"]] == [int(i) for i in ids]


async def test_an_alert_switched_off_is_not_pushed(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    author = await person(app, oauth_client, "picky")
    fan = await person(app, oauth_client, "fan")
    subscriber = Subscriber()
    endpoint = push_service.url("picky")
    await subscribe(app, author.token, endpoint, subscriber, ("follow",))
    status = await publish(app, author)

    await like(app, fan, status["id"])  # favourite: switched off
    await follow(app, fan, author)  # follow: on
    await pushed(app)

    assert [subscriber.decrypt(p)["notification_type"] for p in push_service.pushes(endpoint)] == [
        "follow"
    ]
    assert len(await notification_ids(app, author)) == 2  # both notified, one pushed


async def test_policies_choose_whose_actions_are_pushed(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    author = await person(app, oauth_client, "policy")
    friend = await person(app, oauth_client, "friend")  # the author follows them
    fan = await person(app, oauth_client, "fan")  # follows the author
    stranger = await person(app, oauth_client, "stranger")
    await follow(app, author, friend)
    await follow(app, fan, author)
    subscriber = Subscriber()
    endpoint = push_service.url("policy")
    await subscribe(app, author.token, endpoint, subscriber, ("favourite",), policy="none")
    posts = [(await publish(app, author))["id"] for _ in range(3)]

    async def change_policy(app: httpx.AsyncClient, user: User, policy: str) -> None:
        data = {"data[alerts][favourite]": "1", "data[policy]": policy}
        response = await app.put(PUSH, headers=user.auth, data=data)
        assert response.json()["policy"] == policy

    def pushed_from() -> list[str]:
        return [subscriber.decrypt(p)["title"].split()[0] for p in push_service.pushes(endpoint)]

    for liker in (friend, fan, stranger):
        await like(app, liker, posts[0])
    assert pushed_from() == []

    await change_policy(app, author, "followed")
    for liker in (friend, fan, stranger):
        await like(app, liker, posts[1])
    assert pushed_from() == [friend.username]

    await change_policy(app, author, "follower")
    for liker in (friend, fan, stranger):
        await like(app, liker, posts[2])
    assert pushed_from() == [friend.username, fan.username]


async def test_a_gone_endpoint_loses_its_subscription_and_other_failures_keep_it(
    app: httpx.AsyncClient,
    oauth_client: OAuthClient,
    push_service: PushService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    author = await person(app, oauth_client, "gone")
    fan = await person(app, oauth_client, "fan")
    endpoint = push_service.url("gone-capability")
    await subscribe(app, author.token, endpoint, Subscriber(), ("favourite",))
    first, second = (await publish(app, author))["id"], (await publish(app, author))["id"]

    push_service.answer(endpoint, 500)
    with caplog.at_level(logging.WARNING, logger="tessera.notifications.push"):
        await like(app, fan, first)
    assert len(push_service.pushes(endpoint)) == 1
    assert (await app.get(PUSH, headers=author.auth)).status_code == 200  # not retried, kept
    assert "refused: 500" in caplog.text
    assert "/push/gone-" not in caplog.text  # the endpoint is a secret

    push_service.answer(endpoint, 410)
    await like(app, fan, second)
    assert len(push_service.pushes(endpoint)) == 2
    assert (await app.get(PUSH, headers=author.auth)).status_code == 404
    assert await stored(app, author) == 0


async def test_a_revoked_token_is_pushed_nothing_and_its_subscription_goes(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    author = await person(app, oauth_client, "revoker")
    fan = await person(app, oauth_client, "fan")
    phone = (await login(app, oauth_client, author, "read push"))["access_token"]
    revoked_endpoint, kept_endpoint = push_service.url("revoked"), push_service.url("kept-token")
    await subscribe(app, phone, revoked_endpoint, Subscriber(), ("favourite",))
    await subscribe(app, author.token, kept_endpoint, Subscriber(), ("favourite",))
    status = await publish(app, author)
    assert (await revoke(app, oauth_client, phone)).status_code == 200

    await like(app, fan, status["id"])

    assert push_service.pushes(revoked_endpoint) == []
    assert len(push_service.pushes(kept_endpoint)) == 1
    assert await stored(app, author) == 1


async def test_with_a_broker_the_worker_that_handled_the_event_pushes(
    make_client: AppFactory,
    oauth_client: OAuthClient,
    push_service: PushService,
    broker: Names,
) -> None:
    app = await make_client(
        broker_url=RABBIT_URL,
        broker_exchange=broker.exchange("push"),
        push_allow_http_loopback=True,
    )
    runtime = runtime_of(app)
    try:
        for consumer in runtime.consumers.values():
            await asyncio.wait_for(consumer.ready.wait(), DEADLINE)
        author = await person(app, oauth_client, "brokered")
        fan = await person(app, oauth_client, "fan")
        subscriber = Subscriber()
        endpoint = push_service.url("broker")
        await subscribe(app, author.token, endpoint, subscriber, ("favourite",))
        status = await publish(app, author)
        await app.post(f"/api/v1/statuses/{status['id']}/favourite", headers=fan.auth)

        [push] = await push_service.arrived(endpoint)
        assert subscriber.decrypt(push)["notification_type"] == "favourite"
    finally:
        for consumer in runtime.consumers.values():
            await consumer.close()
        await runtime.relay.close()  # its sweep would publish later tests' events


# -- the key ------------------------------------------------------------------------------


def test_the_vapid_key_is_derived_from_the_secret_or_configured(tmp_path: Any) -> None:
    one = load_settings(data_dir=tmp_path, secret_key="one")
    same = load_settings(data_dir=tmp_path, secret_key="one", public_url="https://x.example")
    other = load_settings(data_dir=tmp_path, secret_key="two")
    assert vapid.public_key(one) == vapid.public_key(same) != vapid.public_key(other)

    generated = Vapid()
    generated.generate_keys()
    raw = generated.private_key.private_numbers().private_value.to_bytes(32, "big")
    configured = load_settings(data_dir=tmp_path, vapid_private_key=b64url(raw))
    point = generated.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert vapid.decode_base64(vapid.public_key(configured)) == point

    assert vapid.contact(one) == "mailto:admin@localhost"
    assert vapid.contact(same) == "https://x.example"
    for bad in ("short", b64url(b"\x00" * 32), b64url(b"\xff" * 32), b64url(b"\x01" * 33)):
        with pytest.raises(ConfigError, match="TESSERA_VAPID_PRIVATE_KEY"):
            load_settings(data_dir=tmp_path, vapid_private_key=bad)
    with pytest.raises(ConfigError, match="TESSERA_VAPID_CONTACT"):
        load_settings(data_dir=tmp_path, vapid_contact="admin@example.org")


async def test_apps_and_the_instance_show_the_server_key(
    app: httpx.AsyncClient, oauth_client: OAuthClient, push_service: PushService
) -> None:
    registered = await register_app(app)
    v2 = (await app.get("/api/v2/instance")).json()
    assert registered["vapid_key"] == v2["configuration"]["vapid"]["public_key"] != ""
