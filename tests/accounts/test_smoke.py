from __future__ import annotations

import httpx

from tests.conftest import MakeUser


async def test_sign_up_then_verify_credentials(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("smoke")
    response = await client.get("/api/v1/accounts/verify_credentials", headers=user.auth)
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == user.username
    assert body["source"]["privacy"] == "public"
    assert body["followers_count"] == 0
