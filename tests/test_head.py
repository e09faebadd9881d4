"""HEAD works wherever GET does (RFC 9110 9.3.2): the same status and headers, no body; Allow lists it."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import MakePost, MakeUser

VARYING = {"date", "x-request-id"}


def comparable(response: httpx.Response) -> dict[str, list[str]]:
    return {name: response.headers.get_list(name) for name in response.headers if name not in VARYING}


async def assert_head_mirrors_get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    got = await client.get(path)
    head = await client.head(path)
    assert head.status_code == got.status_code, path
    assert comparable(head) == comparable(got), path
    assert head.content == b"", path
    if got.content:
        assert head.headers["content-length"] == str(len(got.content)), path
    return head


async def test_every_documented_read_answers_head_as_get(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    user = await make_user()
    post_id = await make_post(user, tags=["head"])
    document: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    reads = [path for path, item in document["paths"].items() if "get" in item]
    assert len(reads) >= 8
    for template in reads:
        path = template.replace("{user_id}", str(user.id)).replace("{post_id}", str(post_id))
        head = await assert_head_mirrors_get(client, path)
        if path != "/users/me":  # needs a token: 401 for both
            assert head.status_code == 200, path


async def test_head_of_errors_docs_and_assets_mirrors_get(client: httpx.AsyncClient) -> None:
    statuses = {}
    for path in ("/users/123456", "/users/abc", "/posts?limit=0", "/no/such/path", "/docs", "/schema/openapi.json"):
        statuses[path] = (await assert_head_mirrors_get(client, path)).status_code
    assert statuses == {
        "/users/123456": 404,
        "/users/abc": 400,
        "/posts?limit=0": 400,
        "/no/such/path": 404,
        "/docs": 200,
        "/schema/openapi.json": 200,
    }
    page = (await client.get("/docs")).text
    for asset in re.findall(r"""(?:src|href)=["'](/docs/assets/[^"']+)["']""", page):
        assert (await assert_head_mirrors_get(client, asset)).status_code == 200, asset


async def test_allow_lists_head_wherever_it_lists_get_and_only_there(client: httpx.AsyncClient) -> None:
    options = await client.options("/posts")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    not_allowed = await client.put("/posts/1")
    assert not_allowed.status_code == 405
    assert {method.strip() for method in not_allowed.headers["allow"].split(",")} == {
        "DELETE",
        "GET",
        "HEAD",
        "OPTIONS",
        "PATCH",
    }
    assert not_allowed.json() == {"status_code": 405, "detail": "Method Not Allowed"}
    # where GET is not allowed, neither is HEAD, and Allow stays as it was
    head, got = await client.head("/auth/token"), await client.get("/auth/token")
    assert (head.status_code, got.status_code, head.content) == (405, 405, b"")
    assert head.headers["allow"] == got.headers["allow"]
    assert {method.strip() for method in head.headers["allow"].split(",")} == {"POST", "OPTIONS"}
