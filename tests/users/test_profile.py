"""PUT /users/{id}/profile: create or replace, by the user themself or an admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.models import Profile, Role, User
from tests.conftest import MakeUser
from tests.helpers import PROFILE_KEYS, assert_error

Headers = Callable[[User], dict[str, str]]


async def test_put_creates_then_replaces_the_profile(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    headers = token_for(user)
    created = await client.put(
        f"/users/{user.id}/profile", json={"bio": " Hi\nthere ", "website": "https://example.com/me"}, headers=headers
    )
    assert created.status_code == 200, created.text
    assert set(created.json()) == PROFILE_KEYS
    assert created.json() == {"bio": "Hi\nthere", "website": "https://example.com/me"}
    replaced = await client.put(f"/users/{user.id}/profile", json={"bio": "Only a bio"}, headers=headers)
    assert replaced.json() == {"bio": "Only a bio", "website": None}
    assert (await client.get(f"/users/{user.id}")).json()["profile"] == {"bio": "Only a bio", "website": None}
    assert await Profile.filter(user_id=user.id).count() == 1


async def test_profile_permissions(client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers) -> None:
    user = await make_user()
    other = await make_user()
    admin = await make_user(role=Role.ADMIN)
    assert_error(await client.put(f"/users/{user.id}/profile", json={"bio": "x"}), 401)
    assert_error(await client.put(f"/users/{user.id}/profile", json={"bio": "x"}, headers=token_for(other)), 403)
    by_admin = await client.put(f"/users/{user.id}/profile", json={"bio": "set by admin"}, headers=token_for(admin))
    assert by_admin.status_code == 200
    assert_error(await client.put("/users/31337/profile", json={"bio": "x"}, headers=token_for(admin)), 404)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"website": "ftp://example.com"}, "website"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"website": "not a url"}, "website"),
        ({"website": "https://"}, "website"),
        ({"website": "https://" + "a" * 2050 + ".com"}, "website"),
        ({"bio": "b" * 2001}, "bio"),
        ({"bio": "nul\x00byte"}, "bio"),
        ({"bio": 42}, "bio"),
    ],
)
async def test_invalid_profiles_are_400(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, body: dict[str, Any], key: str
) -> None:
    user = await make_user()
    assert_error(await client.put(f"/users/{user.id}/profile", json=body, headers=token_for(user)), 400, keys={key})
    assert await Profile.all().count() == 0
