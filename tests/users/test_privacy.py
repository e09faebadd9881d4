"""Emails are personal data: shown to their owner and to admins, to nobody else, and never searchable by others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.models import Role, User
from tests.conftest import MakePost, MakeUser
from tests.helpers import PUBLIC_USER_DETAIL_KEYS, PUBLIC_USER_KEYS, USER_DETAIL_KEYS, USER_KEYS

Headers = Callable[[User], dict[str, str]]
EMAIL = "hopper@navy.example.com"


@pytest.fixture
async def people(make_user: MakeUser, make_post: MakePost) -> dict[str, User]:
    owner = await make_user(name="Grace", email=EMAIL)
    await make_post(owner, title="Compilers", tags=["cobol"])
    return {
        "owner": owner,
        "member": await make_user(name="Someone", email="someone@example.com"),
        "admin": await make_user(name="Ada", email="ada@example.com", role=Role.ADMIN),
    }


def as_caller(people: dict[str, User], token_for: Headers, who: str) -> dict[str, str]:
    return {} if who == "anonymous" else token_for(people[who])


@pytest.mark.parametrize(
    ("who", "sees_email"), [("anonymous", False), ("member", False), ("owner", True), ("admin", True)]
)
async def test_a_users_email_is_shown_to_the_user_and_admins_only(
    client: httpx.AsyncClient, people: dict[str, User], token_for: Headers, who: str, sees_email: bool
) -> None:
    headers = as_caller(people, token_for, who)
    detail = await client.get(f"/users/{people['owner'].id}", headers=headers)
    assert detail.status_code == 200
    assert set(detail.json()) == (USER_DETAIL_KEYS if sees_email else PUBLIC_USER_DETAIL_KEYS)
    assert (EMAIL in detail.text) is sees_email
    assert detail.headers["vary"] == "Authorization"


@pytest.mark.parametrize(("who", "sees_emails"), [("anonymous", False), ("member", False), ("admin", True)])
async def test_the_user_list_shows_emails_to_admins_only(
    client: httpx.AsyncClient, people: dict[str, User], token_for: Headers, who: str, sees_emails: bool
) -> None:
    page = await client.get("/users", headers=as_caller(people, token_for, who))
    assert page.status_code == 200
    assert page.headers["vary"] == "Authorization"
    items = page.json()["items"]
    assert len(items) == 3
    assert all(set(item) == (USER_KEYS if sees_emails else PUBLIC_USER_KEYS) for item in items)
    assert ("@" in page.text) is sees_emails


@pytest.mark.parametrize(("who", "found"), [("anonymous", False), ("member", False), ("owner", False), ("admin", True)])
async def test_only_admins_find_users_by_email(
    client: httpx.AsyncClient, people: dict[str, User], token_for: Headers, who: str, found: bool
) -> None:
    headers = as_caller(people, token_for, who)
    by_email = (await client.get("/users", params={"q": "hopper"}, headers=headers)).json()
    assert ([item["name"] for item in by_email["items"]], by_email["total"]) == (["Grace"], 1) if found else ([], 0)
    later_page = (await client.get("/users", params={"q": "navy", "offset": 1}, headers=headers)).json()
    assert later_page["total"] == (1 if found else 0)  # the count of a later page follows the same rule
    by_name = (await client.get("/users", params={"q": "grac"}, headers=headers)).json()
    assert [item["name"] for item in by_name["items"]] == ["Grace"]


async def test_the_caller_and_their_own_writes_show_their_email(
    client: httpx.AsyncClient, people: dict[str, User], token_for: Headers
) -> None:
    own = token_for(people["owner"])
    assert (await client.get("/users/me", headers=own)).json()["email"] == EMAIL
    updated = await client.patch(f"/users/{people['owner'].id}", json={"name": "Grace H."}, headers=own)
    assert updated.json()["email"] == EMAIL
    created = await client.post("/users", json={"name": "New", "email": "new@example.com", "password": "long enough"})
    assert created.status_code == 201
    assert created.json()["email"] == "new@example.com"  # the person signing up typed it


async def test_nothing_else_anyone_can_read_carries_an_email(
    client: httpx.AsyncClient, people: dict[str, User]
) -> None:
    (post,) = (await client.get("/posts")).json()["items"]
    for path in ("/posts", f"/posts/{post['id']}", f"/users/{people['owner'].id}/posts", "/tags", "/users"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "@" not in response.text, path
    duplicate = await client.post("/users", json={"name": "X", "email": EMAIL, "password": "long enough"})
    assert duplicate.status_code == 409
    assert EMAIL not in duplicate.text


async def test_the_document_shows_both_shapes_and_no_example_email(client: httpx.AsyncClient) -> None:
    document: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for public in ("PublicUserRead", "PublicUserDetailRead"):
        assert "email" not in schemas[public]["properties"]
        assert schemas[public]["additionalProperties"] is False  # so a response matches exactly one shape
    assert "email" in schemas["UserRead"]["required"]
    detail = document["paths"]["/users/{user_id}"]["get"]["responses"]["200"]
    assert detail["content"]["application/json"]["schema"]["oneOf"] == [
        {"$ref": "#/components/schemas/UserDetailRead"},
        {"$ref": "#/components/schemas/PublicUserDetailRead"},
    ]
    assert "Vary" in detail["headers"]
    responses = str([operation["responses"] for item in document["paths"].values() for operation in item.values()])
    assert "@" not in responses
