"""Security headers: nothing is sniffed, credentials are never cached, the docs pages are never framed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.models import User
from tests.balancer import haproxy
from tests.conftest import PASSWORD, MakeUser
from tests.helpers import assert_error

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
NO_FRAMING = {"content-security-policy": "frame-ancestors 'none'", "x-frame-options": "DENY"}
JSON = {"content-type": "application/json"}


def assert_nosniff(response: httpx.Response) -> None:
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], (response.url, response.headers)


def header_values(response: httpx.Response, names: set[str]) -> dict[str, list[str]]:
    return {name: response.headers.get_list(name) for name in names}


async def test_every_kind_of_answer_says_nosniff(client: httpx.AsyncClient) -> None:
    answers = {
        200: await client.get("/tags"),
        204: await client.options("/posts"),
        400: await client.get("/posts", params={"limit": "lots"}),
        401: await client.get("/users/me"),
        404: await client.get("/no/such/path"),
        405: await client.put("/tags"),
        413: await client.post("/posts", content=b"[" + b" " * (1024 * 1024) + b"]", headers=JSON),
        415: await client.post("/users", content=b"name=a", headers={"content-type": "text/plain"}),
    }
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text)
        assert_nosniff(response)
    for status in (400, 401, 404, 405, 413, 415):
        assert_error(answers[status], status)
    # a public read carries no framing or no-store headers (they go where they mean something), only the
    # validators' revalidation rule
    assert header_values(answers[200], set(NO_FRAMING) | set(NO_STORE)) == {
        **{name: [] for name in set(NO_FRAMING) | set(NO_STORE)},
        "cache-control": ["no-cache"],
    }
    schema_miss = await client.get("/schema/nothing-here")
    assert_error(schema_miss, 404)
    assert_nosniff(schema_miss)


async def test_the_token_response_and_its_errors_are_never_stored(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="cache@example.com")
    granted = await client.post("/auth/token", data={"username": "cache@example.com", "password": PASSWORD})
    refused = await client.post("/auth/token", data={"username": "cache@example.com", "password": "wrong password"})
    assert granted.status_code == 200
    assert "access_token" in granted.json()
    assert_error(refused, 401)
    for response in (granted, refused):
        assert header_values(response, set(NO_STORE)) == {name: [value] for name, value in NO_STORE.items()}
        assert_nosniff(response)


async def test_answers_to_requests_with_credentials_are_never_stored(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Callable[[User], dict[str, str]]
) -> None:
    user = await make_user()
    me = await client.get("/users/me", headers=token_for(user))
    assert me.status_code == 200
    assert me.json()["email"] == user.email
    assert header_values(me, set(NO_STORE)) == {name: [value] for name, value in NO_STORE.items()}
    public = await client.get(f"/users/{user.id}")
    assert public.status_code == 200
    assert header_values(public, set(NO_STORE)) == {"cache-control": ["no-cache"], "pragma": []}


@pytest.mark.parametrize("path", ["/docs", "/schema/swagger"])
async def test_the_docs_pages_refuse_to_be_framed(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert header_values(page, set(NO_FRAMING)) == {name: [value] for name, value in NO_FRAMING.items()}
    assert_nosniff(page)


async def test_the_framed_docs_page_still_works_offline_with_authorize(client: httpx.AsyncClient) -> None:
    """frame-ancestors restricts who may embed the page, nothing the page loads: its scripts, styles and the
    document still come from the service, and Authorize still points at the token endpoint."""
    page = await client.get("/docs")
    assert "content-security-policy" in page.headers
    assert "script-src" not in page.headers["content-security-policy"]
    assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", page.text)
    assert {asset.rsplit("/", 1)[-1] for asset in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert_nosniff(response)
    document = (await client.get("/schema/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")  # Authorize asks for the token alone
    assert "post" in document["paths"]["/auth/token"]  # which the page's "Try it out" gets


def test_the_balancers_own_answers_say_nosniff_in_the_error_shape(tmp_path: Path) -> None:
    """deploy/haproxy.cfg: when no replica can answer, HAProxy's 503 is the contract's JSON with nosniff."""
    with haproxy([], tmp_path) as balancer:  # no replica at all
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(f"{balancer.base_url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "HAProxy did not start listening"
                time.sleep(0.05)
    assert response.status_code == 503
    assert response.json() == {"status_code": 503, "detail": "No service replica is available; try again shortly"}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "1"
    assert_nosniff(response)
