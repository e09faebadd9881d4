from __future__ import annotations

import httpx


async def test_signup_and_get(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"name": "Ada", "email": "Ada@Example.com", "password": "abcdefgh1"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "ada@example.com"
    got = await client.get(f"/users/{body['id']}")
    assert got.status_code == 200
    assert got.json() == body
