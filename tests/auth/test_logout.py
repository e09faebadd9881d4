"""Signing out: every token of the account stops working at once, and signing in again works."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD, MakeUser
from tests.helpers import assert_error


async def sign_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_logout_revokes_every_token_of_the_account_and_signing_in_again_works(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(email="ada@example.com")
    other = await make_user(email="grace@example.com")
    laptop, phone = await sign_in(client, "ada@example.com"), await sign_in(client, "ada@example.com")
    someone_else = await sign_in(client, "grace@example.com")
    before = (await client.get(f"/users/{user.id}", headers=laptop)).json()

    response = await client.post("/auth/logout", headers=laptop)
    assert response.status_code == 204
    assert response.content == b""
    for revoked in (laptop, phone):
        body = assert_error(await client.get("/users/me", headers=revoked), 401)
        assert body["detail"] == "The token is no longer valid; sign in again"
    assert (await client.get("/users/me", headers=someone_else)).json()["id"] == other.id
    assert_error(await client.post("/auth/logout", headers=laptop), 401)  # a revoked token cannot sign out again

    again = await sign_in(client, "ada@example.com")
    after = await client.get(f"/users/{user.id}", headers=again)
    assert after.status_code == 200
    assert after.json() == before  # signing out is not a change of the account (updated_at stays)


async def test_logout_needs_a_valid_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/logout")
    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert_error(await client.post("/auth/logout", headers={"Authorization": "Bearer not-a-token"}), 401)
