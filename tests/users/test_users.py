"""GET/PATCH/DELETE /users and /users/{id}, and GET /users/{id}/posts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from service.models import Post, Profile, Role, User
from tests.conftest import MakePost, MakeUser
from tests.helpers import (
    PAGE_KEYS,
    POST_KEYS,
    POST_SUMMARY_KEYS,
    PUBLIC_USER_DETAIL_KEYS,
    PUBLIC_USER_KEYS,
    USER_DETAIL_KEYS,
    assert_error,
)

Headers = Callable[[User], dict[str, str]]


async def test_list_is_a_page_of_users_newest_first(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    users = [await make_user() for _ in range(3)]
    response = await client.get("/users")
    assert response.status_code == 200
    page = response.json()
    assert set(page) == PAGE_KEYS
    assert (page["limit"], page["offset"], page["total"]) == (20, 0, 3)
    assert all(set(item) == PUBLIC_USER_KEYS for item in page["items"])  # no emails for anonymous callers
    assert [item["id"] for item in page["items"]] == [user.id for user in reversed(users)]


async def test_list_paginates_and_an_offset_past_the_end_is_an_empty_page(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    users = [await make_user() for _ in range(5)]
    page = (await client.get("/users", params={"order": "id", "limit": 2, "offset": 2})).json()
    assert [item["id"] for item in page["items"]] == [users[2].id, users[3].id]
    assert (page["limit"], page["offset"], page["total"]) == (2, 2, 5)
    beyond = (await client.get("/users", params={"offset": 10**15})).json()
    assert beyond == {"items": [], "limit": 20, "offset": 10**15, "total": 5, "next_cursor": None}


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("name", ["Alice", "Bob", "Carol"]),
        ("-name", ["Carol", "Bob", "Alice"]),
        ("id", ["Bob", "Carol", "Alice"]),
        ("-id", ["Alice", "Carol", "Bob"]),
        ("created_at", ["Bob", "Carol", "Alice"]),
        ("-created_at", ["Alice", "Carol", "Bob"]),
    ],
)
async def test_list_orders(client: httpx.AsyncClient, make_user: MakeUser, order: str, expected: list[str]) -> None:
    for name in ("Bob", "Carol", "Alice"):
        await make_user(name=name)
    page = (await client.get("/users", params={"order": order})).json()
    assert [item["name"] for item in page["items"]] == expected


async def test_list_filters_by_role_and_search(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    admin = await make_user(name="Ada", email="ada@example.com", role=Role.ADMIN)
    await make_user(name="Grace", email="hopper@navy.example.com")
    await make_user(name="100%_sure", email="pct@example.com")
    admins = (await client.get("/users", params={"role": "admin"})).json()
    assert [item["name"] for item in admins["items"]] == ["Ada"]
    assert admins["total"] == 1
    by_email = (await client.get("/users", params={"q": "HOPPER"}, headers=token_for(admin))).json()
    assert [item["name"] for item in by_email["items"]] == ["Grace"]
    by_name = (await client.get("/users", params={"q": "gRaC"})).json()
    assert [item["name"] for item in by_name["items"]] == ["Grace"]
    literal = (await client.get("/users", params={"q": "%_"})).json()
    assert [item["name"] for item in literal["items"]] == ["100%_sure"]
    both = (await client.get("/users", params={"q": "EXAMPLE", "role": "member"}, headers=token_for(admin))).json()
    assert {item["name"] for item in both["items"]} == {"Grace", "100%_sure"}


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**63}, "offset"),
        ({"order": "email"}, "order"),
        ({"role": "owner"}, "role"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),
    ],
)
async def test_list_rejects_bad_parameters(client: httpx.AsyncClient, params: dict[str, object], key: str) -> None:
    assert_error(await client.get("/users", params=params), 400, keys={key})


async def test_detail_has_profile_post_count_and_the_20_newest_posts_without_bodies(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    user = await make_user()
    ids = [await make_post(user, title=f"post {n}") for n in range(25)]
    await Profile.create(user_id=user.id, bio="Hello", website=None)
    response = await client.get(f"/users/{user.id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_USER_DETAIL_KEYS
    assert body["profile"] == {"bio": "Hello", "website": None}
    assert body["post_count"] == 25
    assert [post["id"] for post in body["posts"]] == list(reversed(ids))[:20]
    assert all(set(post) == POST_SUMMARY_KEYS for post in body["posts"])


async def test_detail_of_unknown_or_out_of_range_ids(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/users/12345"), 404)
    assert_error(await client.get("/users/0"), 404)
    assert_error(await client.get("/users/-1"), 404)
    assert_error(await client.get(f"/users/{2**63 - 1}"), 404)
    assert_error(await client.get(f"/users/{2**63}"), 400, keys={"user_id"})
    assert_error(await client.get("/users/abc"), 400, keys={"user_id"})  # like an out-of-range id


async def test_a_user_updates_their_own_name_and_email(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    response = await client.patch(
        f"/users/{user.id}", json={"name": " Ada ", "email": "NEW@example.com"}, headers=token_for(user)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_DETAIL_KEYS
    assert (body["name"], body["email"]) == ("Ada", "new@example.com")
    assert body["updated_at"] > body["created_at"]


async def test_update_rules(client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers) -> None:
    user = await make_user()
    other = await make_user(email="taken@example.com")
    admin = await make_user(role=Role.ADMIN)
    own = token_for(user)
    assert_error(await client.patch(f"/users/{user.id}", json={"email": "TAKEN@example.com"}, headers=own), 409)
    assert_error(await client.patch(f"/users/{other.id}", json={"name": "x"}, headers=own), 403)
    assert_error(await client.patch(f"/users/{user.id}", json={"role": "admin"}, headers=own), 403)
    assert (await client.patch(f"/users/{user.id}", json={"role": "member"}, headers=own)).status_code == 200
    assert_error(await client.patch(f"/users/{user.id}", json={"name": None}, headers=own), 400, keys={"name"})
    assert_error(await client.patch(f"/users/{user.id}", json={"name": "x"}), 401)
    promoted = await client.patch(f"/users/{user.id}", json={"role": "admin"}, headers=token_for(admin))
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    assert_error(await client.patch("/users/999999", json={"name": "x"}, headers=token_for(admin)), 404)
    assert_error(await client.patch("/users/999999", json={"name": "x"}, headers=own), 404)
    assert (await User.get(id=other.id)).name == other.name


async def test_an_empty_update_changes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    before = (await client.get(f"/users/{user.id}", headers=token_for(user))).json()
    response = await client.patch(f"/users/{user.id}", json={}, headers=token_for(user))
    assert response.status_code == 200
    assert response.json() == before


async def test_delete_takes_profile_and_posts_along(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    user = await make_user()
    await make_post(user, tags=["kept"])
    await Profile.create(user_id=user.id, bio="bye")
    headers = token_for(user)
    response = await client.delete(f"/users/{user.id}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(f"/users/{user.id}"), 404)
    assert await Post.all().count() == 0
    assert await Profile.all().count() == 0
    assert (await client.get("/tags")).json()["items"] == [{"id": 1, "name": "kept", "post_count": 0}]
    assert_error(await client.delete(f"/users/{user.id}", headers=headers), 401)


async def test_delete_rules(client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers) -> None:
    user = await make_user()
    other = await make_user()
    admin = await make_user(role=Role.ADMIN)
    assert_error(await client.delete(f"/users/{other.id}", headers=token_for(user)), 403)
    assert_error(await client.delete(f"/users/{other.id}"), 401)
    assert_error(await client.delete("/users/424242", headers=token_for(admin)), 404)
    assert (await client.delete(f"/users/{other.id}", headers=token_for(admin))).status_code == 204
    assert await User.filter(id=other.id).count() == 0
    assert await User.filter(id=user.id).count() == 1


async def test_a_users_posts_newest_first_with_authors_and_tags(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    user = await make_user(name="Ada")
    other = await make_user()
    first = await make_post(user, title="first", tags=["b", "a"])
    second = await make_post(user, title="second")
    await make_post(other, title="not hers")
    page = (await client.get(f"/users/{user.id}/posts")).json()
    assert set(page) == PAGE_KEYS
    assert page["total"] == 2
    assert [item["id"] for item in page["items"]] == [second, first]
    assert all(set(item) == POST_KEYS for item in page["items"])
    assert page["items"][1]["author"] == {"id": user.id, "name": "Ada"}
    assert page["items"][1]["tags"] == ["a", "b"]
    limited = (await client.get(f"/users/{user.id}/posts", params={"limit": 1, "offset": 1})).json()
    assert [item["id"] for item in limited["items"]] == [first]
    assert_error(await client.get("/users/98765/posts"), 404)


async def test_updated_at_moves_only_when_a_stored_value_changes(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user(name="Ada")
    before = (await client.get(f"/users/{user.id}", headers=token_for(user))).json()
    same = {"name": " Ada ", "email": before["email"].upper(), "role": "member"}
    unchanged = await client.patch(f"/users/{user.id}", json=same, headers=token_for(user))
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["updated_at"] == before["updated_at"]
    renamed = await client.patch(f"/users/{user.id}", json={"name": "Ada L."}, headers=token_for(user))
    assert renamed.json()["updated_at"] > before["updated_at"]
    repassworded = await client.patch(
        f"/users/{user.id}", json={"password": "a new passphrase"}, headers=token_for(user)
    )
    assert repassworded.status_code == 200
    assert repassworded.json()["updated_at"] > renamed.json()["updated_at"]
