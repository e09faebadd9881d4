"""The ``Authorization`` header as the token dependencies read it from the raw headers: what Litestar's parsed
headers give (the first one, any case of the name, latin-1), or None; reads where a token is optional."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import Request

from service.auth.dependencies import authorization
from service.models import User
from tests.conftest import MakeUser
from tests.helpers import assert_error

HEADER_LISTS: list[list[tuple[bytes, bytes]]] = [
    [],
    [(b"host", b"x"), (b"accept", b"*/*")],
    [(b"authorization", b"Bearer abc")],
    [(b"host", b"x"), (b"Authorization", b"Bearer \xe9t\xe9"), (b"authorization", b"Bearer second")],
    [(b"authorization", b"")],
    [(b"x-authorization", b"Bearer no"), (b"AUTHORIZATION", b"Basic yes")],
]


def request_with(headers: list[tuple[bytes, bytes]]) -> Request[Any, Any, Any]:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": headers})  # type: ignore[typeddict-item]


@pytest.mark.parametrize("headers", HEADER_LISTS)
def test_the_authorization_header_is_what_the_parsed_headers_give(headers: list[tuple[bytes, bytes]]) -> None:
    assert authorization(request_with(headers)) == request_with(headers).headers.get("authorization")


def test_the_first_authorization_header_is_read() -> None:
    assert authorization(request_with(HEADER_LISTS[3])) == "Bearer été"
    assert authorization(request_with(HEADER_LISTS[1])) is None


async def test_reads_with_an_optional_token_refuse_a_bad_one_and_serve_without_one(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Callable[[User], dict[str, str]]
) -> None:
    user = await make_user()
    for path in ("/users", f"/users/{user.id}"):
        for header in ("Bearer not-a-token", "Basic abc", "Bearer "):
            response = await client.get(path, headers={"Authorization": header})
            assert_error(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.headers["cache-control"] == "no-store"
        assert (await client.get(path, headers={"Authorization": ""})).status_code == 200
        assert "email" not in (await client.get(f"/users/{user.id}")).json()
        assert (await client.get(f"/users/{user.id}", headers=token_for(user))).json()["email"] == user.email
