"""Routes of Web Push subscriptions: `/api/v1/push/subscription`, one per access token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, model_validator

from tessera.accounts import Caller, caller_with
from tessera.core import vapid
from tessera.core.config import Settings
from tessera.core.errors import Unprocessable
from tessera.core.params import Params, parsed
from tessera.core.runtime import SessionDep, SettingsDep
from tessera.notifications import push_service
from tessera.notifications.push_models import ALERTS, PushSubscription

router = APIRouter()

PATH = "/api/v1/push/subscription"
_ALERT = "data[alerts]["


@dataclass(frozen=True, slots=True)
class Token:
    """A user token with the `push` scope: the subscription is the token's own."""

    account_id: int
    token_id: int


async def _token(caller: Annotated[Caller, caller_with("push")]) -> Token:
    if caller.account_id is None:
        raise Unprocessable("This method requires an authenticated user")
    return Token(caller.account_id, caller.token_id)


Subscriber = Annotated[Token, Depends(_token)]


class DataForm(Params):
    """`data[alerts][<type>]` booleans and `data[policy]`; form, query or nested JSON.

    A top-level `policy` counts too when `data[policy]` is absent: Mastodon.py sends it
    there (Mastodon itself reads only `data[policy]`).
    """

    alerts: dict[str, bool] = Field(default_factory=dict)
    data_policy: str | None = Field(default=None, alias="data[policy]")
    policy: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _collect_alerts(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        alerts = {
            key[len(_ALERT) : -1]: value
            for key, value in raw.items()
            if key.startswith(_ALERT) and key.endswith("]") and key[len(_ALERT) : -1] in ALERTS
        }
        return {**raw, "alerts": alerts}

    def checked(self) -> tuple[list[str], str]:
        policy = self.data_policy if self.data_policy is not None else self.policy
        return push_service.check_data(self.alerts, policy or None)


class SubscribeForm(DataForm):
    endpoint: str = Field(alias="subscription[endpoint]")
    p256dh: str = Field(alias="subscription[keys][p256dh]")
    auth: str = Field(alias="subscription[keys][auth]")


def _entity(row: PushSubscription, settings: Settings) -> dict[str, Any]:
    """Mastodon's WebPushSubscription. `standard` is always true: pushes follow RFC 8291
    (`aes128gcm`); Mastodon's pre-standard `aesgcm` draft is not offered."""
    return {
        "id": str(row.id),
        "endpoint": row.endpoint,
        "standard": True,
        "alerts": {name: name in row.alerts for name in ALERTS},
        "policy": row.policy,
        "server_key": vapid.public_key(settings),
    }


@router.post(PATH)
async def subscribe(
    session: SessionDep,
    settings: SettingsDep,
    caller: Subscriber,
    form: Annotated[SubscribeForm, parsed(SubscribeForm)],
) -> dict[str, Any]:
    """Subscribe this token, replacing the subscription it had."""
    keys = push_service.check_keys(
        form.endpoint,
        form.p256dh,
        form.auth,
        allow_http_loopback=settings.push_allow_http_loopback,
    )
    alerts, policy = form.checked()
    row = await push_service.subscribe(
        session, caller.account_id, caller.token_id, keys, alerts, policy
    )
    return _entity(row, settings)


@router.get(PATH)
async def show(session: SessionDep, settings: SettingsDep, caller: Subscriber) -> dict[str, Any]:
    return _entity(await push_service.subscription(session, caller.token_id), settings)


@router.put(PATH)
async def change(
    session: SessionDep,
    settings: SettingsDep,
    caller: Subscriber,
    form: Annotated[DataForm, parsed(DataForm)],
) -> dict[str, Any]:
    """Replace the alerts and policy (the endpoint and keys need a new subscription)."""
    alerts, policy = form.checked()
    row = await push_service.change(session, caller.token_id, alerts, policy)
    return _entity(row, settings)


@router.delete(PATH)
async def unsubscribe(session: SessionDep, caller: Subscriber) -> dict[str, Any]:
    await push_service.unsubscribe(session, caller.token_id)
    return {}
