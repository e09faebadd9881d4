"""POST /users: sign-up, roles, validation, and the all-or-nothing nested profile and posts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.models import Post, Profile, Role, Tag, User
from tests.conftest import MakeUser
from tests.helpers import POST_SUMMARY_KEYS, USER_DETAIL_KEYS, assert_error, assert_utc_timestamp

Headers = Callable[[User], dict[str, str]]


def signup(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Ada Lovelace", "email": "ada@example.com", "password": "analytical engine"}
    body.update(overrides)
    return body


async def counts() -> dict[str, int]:
    return {
        "users": await User.all().count(),
        "posts": await Post.all().count(),
        "tags": await Tag.all().count(),
        "profiles": await Profile.all().count(),
    }


async def test_signup_creates_a_member_and_returns_the_user_detail(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json=signup(name="  Ada Lovelace  ", email="Ada@Example.COM"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_DETAIL_KEYS
    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "ada@example.com"
    assert body["role"] == "member"
    assert body["profile"] is None
    assert body["post_count"] == 0
    assert body["posts"] == []
    assert_utc_timestamp(body["created_at"])
    assert_utc_timestamp(body["updated_at"])
    assert "analytical engine" not in response.text
    stored = await User.get(id=body["id"])
    assert stored.password_hash.startswith("$argon2id$")
    assert (await client.get(f"/users/{body['id']}")).json() == {k: v for k, v in body.items() if k != "email"}


async def test_duplicate_email_is_409_whatever_its_case(client: httpx.AsyncClient) -> None:
    assert (await client.post("/users", json=signup())).status_code == 201
    response = await client.post("/users", json=signup(email="ADA@example.com", name="Someone else"))
    body = assert_error(response, 409)
    assert "email" in body["detail"]
    assert await User.all().count() == 1


@pytest.mark.parametrize(
    ("overrides", "keys"),
    [
        ({"name": None}, {"name"}),
        ({"name": "   "}, {"name"}),
        ({"name": "x" * 101}, {"name"}),
        ({"name": "two\nlines"}, {"name"}),
        ({"email": "not-an-email"}, {"email"}),
        ({"email": "a" * 245 + "@example.com"}, {"email"}),
        ({"password": "short"}, {"password"}),
        ({"password": "       x       "}, {"password"}),
        ({"password": "p" * 129}, {"password"}),
        ({"password": 12345678}, {"password"}),
        ({"role": "superuser"}, {"role"}),
        ({"email": None, "password": None}, {"email", "password"}),
    ],
)
async def test_invalid_signups_are_400_naming_the_fields(
    client: httpx.AsyncClient, overrides: dict[str, Any], keys: set[str]
) -> None:
    body = {key: value for key, value in signup(**overrides).items() if value is not None}
    assert_error(await client.post("/users", json=body), 400, keys=keys)
    assert await User.all().count() == 0


async def test_lengths_count_characters_after_trimming(client: httpx.AsyncClient) -> None:
    name = "é" * 100  # 100 characters, 200 bytes
    response = await client.post("/users", json=signup(name=f"  {name}  ", password="ü" * 8))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json=signup(id=999, is_admin=True, password_hash="x"))
    assert response.status_code == 201, response.text
    assert response.json()["id"] != 999
    assert response.json()["role"] == "member"


async def test_only_an_admin_may_sign_up_someone_with_another_role(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    member = await make_user()
    admin = await make_user(role=Role.ADMIN)
    assert_error(await client.post("/users", json=signup(role="admin")), 403)
    assert_error(await client.post("/users", json=signup(role="admin"), headers=token_for(member)), 403)
    explicit_member = await client.post("/users", json=signup(email="m@example.com", role="member"))
    assert explicit_member.status_code == 201
    assert explicit_member.json()["role"] == "member"
    by_admin = await client.post("/users", json=signup(role="admin"), headers=token_for(admin))
    assert by_admin.status_code == 201, by_admin.text
    assert by_admin.json()["role"] == "admin"


async def test_an_invalid_token_on_signup_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json=signup(), headers={"Authorization": "Bearer nonsense"})
    assert_error(response, 401)
    assert await User.all().count() == 0


async def test_signup_with_profile_and_posts_creates_everything(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users",
        json=signup(
            profile={"bio": "First programmer", "website": "https://ada.example.com/about"},
            posts=[
                {"title": "Notes", "body": "On the engine", "tags": ["Math", " math ", "history"]},
                {"title": "Second", "tags": ["history"]},
                {"title": "Third"},
            ],
        ),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["profile"] == {"bio": "First programmer", "website": "https://ada.example.com/about"}
    assert body["post_count"] == 3
    assert [post["title"] for post in body["posts"]] == ["Third", "Second", "Notes"]
    assert all(set(post) == POST_SUMMARY_KEYS for post in body["posts"])
    assert all(post["author_id"] == body["id"] for post in body["posts"])
    posts = (await client.get("/posts", params={"order": "id"})).json()["items"]
    assert [post["tags"] for post in posts] == [["history", "math"], ["history"], []]
    assert sorted(await Tag.all().values_list("name", flat=True)) == ["history", "math"]


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"posts": [{"title": "ok"}, {"title": "x" * 201}]}, "posts.1.title"),
        ({"posts": [{"title": "ok", "tags": ["a"] * 3 + [f"t{i}" for i in range(10)]}]}, "posts.0.tags"),
        ({"posts": [{"title": "ok", "tags": ["x" * 51]}]}, "posts.0.tags.0"),
        ({"posts": [{"title": f"p{i}"} for i in range(51)]}, "posts"),
        ({"profile": {"website": "ftp://example.com"}}, "profile.website"),
        ({"profile": {"bio": "b" * 2001}}, "profile.bio"),
    ],
)
async def test_invalid_nested_data_writes_nothing_and_names_the_field(
    client: httpx.AsyncClient, extra: dict[str, Any], key: str
) -> None:
    response = await client.post("/users", json=signup(**extra))
    assert_error(response, 400, keys={key})
    assert await counts() == {"users": 0, "posts": 0, "tags": 0, "profiles": 0}


async def test_a_failing_signup_rolls_back_its_posts_tags_and_profile(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="ada@example.com")
    before = await counts()
    response = await client.post(
        "/users",
        json=signup(profile={"bio": "x"}, posts=[{"title": "t", "tags": ["brand-new-tag"]} for _ in range(5)]),
    )
    assert_error(response, 409)
    assert await counts() == before


async def test_a_failure_late_in_signup_leaves_nothing_behind(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user, profile, posts and tags are already inserted when linking the tags fails: all roll back."""

    async def broken_link_tags(links: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("service.posts.queries.link_tags", broken_link_tags)
    response = await client.post(
        "/users", json=signup(profile={"bio": "x"}, posts=[{"title": "t", "tags": ["fresh"]}, {"title": "u"}])
    )
    body = assert_error(response, 500)
    assert body == {"status_code": 500, "detail": "Internal Server Error"}
    assert "disk on fire" not in response.text
    assert await counts() == {"users": 0, "posts": 0, "tags": 0, "profiles": 0}


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("Ada\u2028Lovelace", "U+2028 LINE SEPARATOR"),
        ("Ada\u2029Lovelace", "U+2029 PARAGRAPH SEPARATOR"),
        ("Ada\x85Lovelace", "U+0085"),
        ("admin\u200b", "U+200B ZERO WIDTH SPACE"),
        ("ad\u200dmin", "U+200D ZERO WIDTH JOINER"),
        ("\u202enimda", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("admin\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
        ("admin\u2800", "U+2800 BRAILLE PATTERN BLANK"),
    ],
)
async def test_a_name_with_a_line_break_or_an_invisible_character_is_400_naming_it(
    client: httpx.AsyncClient, name: str, found: str
) -> None:
    body = assert_error(await client.post("/users", json=signup(name=name)), 400, keys={"name"})
    assert body["extra"][0]["message"].endswith(f"; found {found}")
    assert await User.all().count() == 0


async def test_line_breaks_are_refused_inside_a_name_and_trimmed_around_it(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/users", json=signup(name="Ada\u2028Lovelace")), 400, keys={"name"})
    response = await client.post("/users", json=signup(name="\u2028Ada Lovelace\x85\u2029"))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Ada Lovelace"
