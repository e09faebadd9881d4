"""Validators: an ETag on every representation, 304 for a current If-None-Match, 412 for a stale If-Match (checked
in the write's own transaction), 428 when If-Match is required."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.models import Post, User
from service.settings import Settings
from tests.conftest import MakePost, MakeUser
from tests.helpers import assert_error

Headers = Callable[[User], dict[str, str]]


async def test_a_read_carries_an_etag_and_a_current_if_none_match_is_a_bodiless_304(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    post_id = await make_post(await make_user(), tags=["a"])
    first = await client.get(f"/posts/{post_id}")
    tag = first.headers["etag"]
    assert tag.startswith('"')
    assert tag.endswith('"')
    assert len(tag) == 34
    assert first.headers["cache-control"] == "no-cache"
    for condition in (tag, "*", f'"other", {tag}', f"W/{tag}"):
        response = await client.get(f"/posts/{post_id}", headers={"If-None-Match": condition})
        assert response.status_code == 304, condition
        assert response.content == b""
        assert response.headers["etag"] == tag
        assert "content-type" not in response.headers
    stale = await client.get(f"/posts/{post_id}", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == first.content


async def test_the_tag_changes_when_anything_shown_changes_through_a_relation_too(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user(name="Ada")
    post_id = await make_post(author, tags=["a"])

    async def tags() -> dict[str, str]:
        paths = (f"/posts/{post_id}", "/posts", f"/users/{author.id}", f"/users/{author.id}/posts", "/tags", "/users")
        return {path: (await client.get(path)).headers["etag"] for path in paths}

    before = await tags()
    assert await tags() == before  # the same representation, the same tag
    await client.patch(f"/users/{author.id}", json={"name": "Ada L."}, headers=token_for(author))
    renamed = await tags()
    assert all(renamed[path] != before[path] for path in (f"/posts/{post_id}", "/posts", f"/users/{author.id}"))
    assert renamed["/tags"] == before["/tags"]  # no tag shows an author
    await client.patch(f"/posts/{post_id}", json={"tags": ["a", "b"]}, headers=token_for(author))
    retagged = await tags()
    assert retagged[f"/posts/{post_id}"] != renamed[f"/posts/{post_id}"]
    assert retagged["/tags"] != renamed["/tags"]
    await make_post(author, title="another")
    assert (await tags())[f"/users/{author.id}"] != retagged[f"/users/{author.id}"]  # post_count and recent posts


async def test_whenever_a_read_shows_something_else_its_tag_is_another(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    """The reads of users and posts are tagged from their rows' versions before they are built: after each write
    below, every read (anonymous, the owner's, an admin's; one resource, first pages, cursor pages) whose bytes
    changed has a new tag, and a read whose tag is current still answers 304."""
    author = await make_user(name="Ada")
    admin = await make_user(name="Root", role="admin")
    other = await make_user(name="Bob")
    first = await make_post(author, title="one", tags=["a"])
    await make_post(author, title="two")
    cursor = (await client.get("/posts?limit=1")).json()["next_cursor"]
    paths = (
        f"/posts/{first}",
        "/posts",
        "/posts?limit=1",
        f"/posts?limit=1&cursor={cursor}",
        "/posts?offset=1",
        f"/users/{author.id}",
        f"/users/{author.id}/posts",
        "/users",
        "/users?limit=1&offset=1",
        "/users?role=admin",
    )
    callers: dict[str, dict[str, str]] = {"anonymous": {}, "owner": token_for(author), "admin": token_for(admin)}

    async def reads(deleted: str = "") -> dict[tuple[str, str], tuple[str, bytes]]:
        seen = {}
        for who, headers in callers.items():
            for path in paths:
                response = await client.get(path, headers=headers)
                assert response.status_code == (404 if path == deleted else 200), (path, response.text)
                if response.status_code == 200:
                    seen[who, path] = (response.headers["etag"], response.content)
        return seen

    writes = [
        ("PUT", f"/users/{author.id}/profile", {"bio": "hello", "website": None}, author),
        ("PUT", f"/users/{author.id}/profile", {"bio": "hello again", "website": None}, author),
        ("PATCH", f"/posts/{first}", {"title": "one, edited"}, author),
        ("PATCH", f"/posts/{first}", {"body": "new text"}, author),
        ("PATCH", f"/posts/{first}", {"tags": ["a", "b"]}, author),
        ("PATCH", f"/users/{author.id}", {"email": "ada.new@example.com"}, author),
        ("PATCH", f"/users/{author.id}", {"role": "admin"}, admin),
        ("POST", "/posts", {"title": "by bob"}, other),
        ("DELETE", f"/posts/{first}", None, author),
    ]
    before = await reads()
    changed: Counter[str] = Counter()
    for method, path, body, caller in writes:
        answer = await client.request(method, path, json=body, headers=token_for(caller))
        assert answer.status_code in (200, 201, 204), (method, path, answer.text)
        after = await reads(deleted=path if method == "DELETE" else "")
        for key, (tag, content) in after.items():
            if content != before[key][1]:
                changed[method] += 1
                assert tag != before[key][0], (method, path, key, "shows something else under the same tag")
            current = await client.get(key[1], headers={**callers[key[0]], "If-None-Match": tag})
            assert current.status_code == 304, (key, current.status_code)
            assert current.headers["etag"] == tag
            assert current.content == b""
        before = after
    assert set(changed) == {"PUT", "PATCH", "POST", "DELETE"}  # every kind of write changed some read


async def test_a_cursor_page_whose_only_change_is_its_next_cursor_gets_a_new_tag(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    oldest, _, _ = [await make_post(author, title=title) for title in ("p1", "p2", "p3")]
    cursor = (await client.get("/posts?limit=1")).json()["next_cursor"]
    page = await client.get(f"/posts?limit=1&cursor={cursor}")
    assert [post["title"] for post in page.json()["items"]] == ["p2"]
    assert page.json()["next_cursor"] is not None
    await Post.filter(id=oldest).delete()
    last = await client.get(f"/posts?limit=1&cursor={cursor}")
    assert last.json()["items"] == page.json()["items"]
    assert last.json()["next_cursor"] is None
    assert last.headers["etag"] != page.headers["etag"]


async def test_caller_dependent_reads_have_their_own_tags_and_say_they_vary(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    public = await client.get(f"/users/{user.id}")
    own = await client.get(f"/users/{user.id}", headers=token_for(user))
    assert public.headers["etag"] != own.headers["etag"]
    assert public.headers.get_list("cache-control") == ["no-cache"]
    assert own.headers.get_list("cache-control") == ["no-store"]  # an answer to credentials is never stored
    not_modified = await client.get(
        f"/users/{user.id}", headers={**token_for(user), "If-None-Match": own.headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["vary"] == "Authorization"
    assert (await client.get(f"/users/{user.id}", headers={"If-None-Match": own.headers["etag"]})).status_code == 200


async def test_a_write_with_a_stale_if_match_is_412_and_with_the_current_one_succeeds(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user()
    headers = token_for(author)
    post_id = await make_post(author)
    read = await client.get(f"/posts/{post_id}")
    tag = read.headers["etag"]
    updated = await client.patch(f"/posts/{post_id}", json={"title": "v2"}, headers={**headers, "If-Match": tag})
    assert updated.status_code == 200
    new_tag = updated.headers["etag"]
    assert new_tag != tag
    assert (await client.get(f"/posts/{post_id}")).headers["etag"] == new_tag  # the write returns the read's tag
    stale = await client.patch(f"/posts/{post_id}", json={"title": "v3"}, headers={**headers, "If-Match": tag})
    body = assert_error(stale, 412)
    assert "changed" in body["detail"]
    assert stale.headers["etag"] == new_tag
    assert (await client.get(f"/posts/{post_id}")).json()["title"] == "v2"
    weak = await client.patch(
        f"/posts/{post_id}", json={"title": "v3"}, headers={**headers, "If-Match": f"W/{new_tag}"}
    )
    assert_error(weak, 412)  # If-Match compares strongly
    listed = await client.patch(
        f"/posts/{post_id}", json={"title": "v3"}, headers={**headers, "If-Match": f'"x", {new_tag}'}
    )
    assert listed.status_code == 200
    assert (
        await client.patch(f"/posts/{post_id}", json={"body": "b"}, headers={**headers, "If-Match": "*"})
    ).is_success
    assert_error(await client.delete(f"/posts/{post_id}", headers={**headers, "If-Match": tag}), 412)
    current = (await client.get(f"/posts/{post_id}")).headers["etag"]
    assert (await client.delete(f"/posts/{post_id}", headers={**headers, "If-Match": current})).status_code == 204
    assert_error(await client.delete(f"/posts/{post_id}", headers={**headers, "If-Match": "*"}), 404)


async def test_two_clients_patching_the_version_they_read_one_wins_one_gets_412(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user()
    headers = token_for(author)
    for round_ in range(5):
        post_id = await make_post(author)
        tag = (await client.get(f"/posts/{post_id}")).headers["etag"]
        responses = await asyncio.gather(
            *(
                client.patch(
                    f"/posts/{post_id}", json={"title": f"by client {n}"}, headers={**headers, "If-Match": tag}
                )
                for n in range(2)
            )
        )
        assert Counter(response.status_code for response in responses) == {200: 1, 412: 1}, round_
        (winner,) = [response for response in responses if response.status_code == 200]
        assert (await client.get(f"/posts/{post_id}")).json()["title"] == winner.json()["title"]


async def test_users_and_profiles_honour_if_match(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    own = token_for(user)
    public_tag = (await client.get(f"/users/{user.id}")).headers["etag"]
    own_tag = (await client.get(f"/users/{user.id}", headers=own)).headers["etag"]
    path = f"/users/{user.id}"
    assert_error(await client.patch(path, json={"name": "N"}, headers={**own, "If-Match": public_tag}), 412)
    renamed = await client.patch(path, json={"name": "N"}, headers={**own, "If-Match": own_tag})
    assert renamed.status_code == 200
    profile = f"/users/{user.id}/profile"
    assert_error(await client.put(profile, json={"bio": "b"}, headers={**own, "If-Match": "*"}), 412)  # none yet
    created = await client.put(profile, json={"bio": "b"}, headers=own)
    assert created.status_code == 200
    replaced = await client.put(profile, json={"bio": "c"}, headers={**own, "If-Match": created.headers["etag"]})
    assert replaced.status_code == 200
    assert_error(
        await client.put(profile, json={"bio": "d"}, headers={**own, "If-Match": created.headers["etag"]}), 412
    )
    assert_error(await client.delete(path, headers={**own, "If-Match": own_tag}), 412)  # renamed since
    # the profile is part of the user's representation: the tag from the rename is stale too
    assert_error(await client.delete(path, headers={**own, "If-Match": renamed.headers["etag"]}), 412)
    current = (await client.get(path, headers=own)).headers["etag"]
    assert (await client.delete(path, headers={**own, "If-Match": current})).status_code == 204


@pytest.fixture
async def strict(app: Any, app_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with REQUIRE_IF_MATCH on (same database)."""
    strict_app = create_app(app_settings.model_copy(update={"require_if_match": True}))
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_require_if_match_refuses_writes_without_it_with_428(
    strict: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user()
    headers = token_for(author)
    post_id = await make_post(author)
    body = assert_error(await strict.patch(f"/posts/{post_id}", json={"title": "x"}, headers=headers), 428)
    assert "If-Match" in body["detail"]
    assert_error(await strict.delete(f"/posts/{post_id}", headers=headers), 428)
    assert_error(await strict.put(f"/users/{author.id}/profile", json={}, headers=headers), 428)
    tag = (await strict.get(f"/posts/{post_id}")).headers["etag"]
    assert (
        await strict.patch(f"/posts/{post_id}", json={"title": "x"}, headers={**headers, "If-Match": tag})
    ).is_success


async def test_health_and_tokens_carry_no_etag(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    assert "etag" not in (await client.get("/health")).headers
    await make_user(email="ada@example.com")
    token = await client.post("/auth/token", data={"username": "ada@example.com", "password": "correct horse battery"})
    assert token.status_code == 200
    assert "etag" not in token.headers


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Europe/Warsaw", "America/St_Johns", None])
def test_a_version_stamp_is_the_instant_in_microseconds_in_any_zone(zone: str | None) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from tortoise.timezone import get_default_timezone

    from service.versions import stamp

    zones = [UTC, get_default_timezone()] if zone is None else [ZoneInfo(zone)]
    for tz in zones:
        moments = (datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC), datetime(1969, 12, 31, 23, 0, tzinfo=UTC))
        for moment in moments:
            local = moment.astimezone(tz)
            expected = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
            assert stamp(local) == stamp(local) == expected, (tz, local)
            assert stamp(local + timedelta(microseconds=1)) == expected + 1
