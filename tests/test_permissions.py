"""The role rules of the contract for every write, as a matrix of callers x endpoints.

Callers: nobody (no token), the owner (a member who owns the resource), another member, an admin, and a
deleted user (a token whose user is gone). Each cell is the status the contract names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from service.models import Role, User
from tests.conftest import MakePost, MakeUser

Headers = Callable[[User], dict[str, str]]
CALLERS = ("anonymous", "owner", "other_member", "admin", "deleted_user")


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: dict[str, Any] | None
    expected: dict[str, int]


OWNER_OR_ADMIN = {"anonymous": 401, "other_member": 403, "deleted_user": 401}
CASES = [
    Case("PATCH", "/users/{owner}", {"name": "New name"}, {**OWNER_OR_ADMIN, "owner": 200, "admin": 200}),
    Case("PATCH", "/users/{owner}", {"role": "admin"}, {**OWNER_OR_ADMIN, "owner": 403, "admin": 200}),
    Case("PUT", "/users/{owner}/profile", {"bio": "b"}, {**OWNER_OR_ADMIN, "owner": 200, "admin": 200}),
    Case("DELETE", "/users/{owner}", None, {**OWNER_OR_ADMIN, "owner": 204, "admin": 204}),
    Case("PATCH", "/posts/{post}", {"title": "t"}, {**OWNER_OR_ADMIN, "owner": 200, "admin": 200}),
    Case("DELETE", "/posts/{post}", None, {**OWNER_OR_ADMIN, "owner": 204, "admin": 204}),
    Case(
        "POST",
        "/posts",
        {"title": "t"},
        {"anonymous": 401, "owner": 201, "other_member": 201, "admin": 201, "deleted_user": 401},
    ),
    Case(
        "POST",
        "/users",
        {"name": "N", "email": "new@example.com", "password": "long enough", "role": "admin"},
        {"anonymous": 403, "owner": 403, "other_member": 403, "admin": 201, "deleted_user": 401},
    ),
    Case(
        "GET",
        "/users/me",
        None,
        {"anonymous": 401, "owner": 200, "other_member": 200, "admin": 200, "deleted_user": 401},
    ),
]
READS = ["/users", "/users/{owner}", "/users/{owner}/posts", "/posts", "/posts/{post}", "/tags", "/health"]


@pytest.fixture
async def world(make_user: MakeUser, make_post: MakePost, token_for: Headers) -> dict[str, Any]:
    owner = await make_user()
    post = await make_post(owner, tags=["t"])
    other = await make_user()
    admin = await make_user(role=Role.ADMIN)
    ghost = await make_user()
    headers = {
        "anonymous": {},
        "owner": token_for(owner),
        "other_member": token_for(other),
        "admin": token_for(admin),
        "deleted_user": token_for(ghost),
    }
    await ghost.delete()
    return {"ids": {"owner": owner.id, "post": post}, "headers": headers}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path} {c.body}" for c in CASES])
async def test_write_permissions(client: httpx.AsyncClient, world: dict[str, Any], case: Case, caller: str) -> None:
    path = case.path.format(**world["ids"])
    response = await client.request(case.method, path, json=case.body, headers=world["headers"][caller])
    assert response.status_code == case.expected[caller], response.text


@pytest.mark.parametrize("caller", ["anonymous", "owner", "admin"])
@pytest.mark.parametrize("path", READS)
async def test_reads_are_public(client: httpx.AsyncClient, world: dict[str, Any], path: str, caller: str) -> None:
    response = await client.get(path.format(**world["ids"]), headers=world["headers"][caller])
    assert response.status_code == 200, response.text
