"""Cursor pages on every list: walking by ``next_cursor`` gives every row once in the list's order (ties by id),
survives inserts and deletes between pages, and refuses a cursor with an offset, a tampered cursor and one made by
another list, other filters or another order (400)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from service.models import Post, Role, User
from tests.conftest import MakePost, MakeUser
from tests.helpers import PAGE_KEYS, assert_error

POST_ORDERS = ["-created_at", "created_at", "title", "-title", "id", "-id"]
USER_ORDERS = ["-created_at", "created_at", "name", "-name", "id", "-id"]
SAME_TIME = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


async def walk(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[int]:
    """Every id of a list, page by page by cursor (checking each page's shape)."""
    ids: list[int] = []
    response = await client.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == PAGE_KEYS
        assert page["limit"] == params["limit"]
        assert len(page["items"]) <= params["limit"]
        ids += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return ids
        assert len(page["items"]) == params["limit"]
        response = await client.get(path, params={**params, "cursor": page["next_cursor"]})
        later = response.json()
        if response.status_code == 200:
            assert (later["offset"], later["total"]) == (None, None)


async def all_ids(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[int]:
    response = await client.get(path, params={**params, "limit": 100})
    assert response.status_code == 200
    assert response.json()["next_cursor"] is None
    return [item["id"] for item in response.json()["items"]]


async def posts_with_ties(make_user: MakeUser, make_post: MakePost) -> User:
    """Seven posts, several sharing a title and a creation time (ties the id must break)."""
    author = await make_user()
    titles = ["b", "a", "b", "c", "b", "a", "d"]
    ids = [await make_post(author, title=title, tags=["common"]) for title in titles]
    await Post.filter(id__in=ids[1:5]).update(created_at=SAME_TIME)
    return author


@pytest.mark.parametrize("order", POST_ORDERS)
@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_post_cursor_pages_give_every_post_once_in_order(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, order: str, limit: int
) -> None:
    author = await posts_with_ties(make_user, make_post)
    other = await make_user()
    await make_post(other, title="b", tags=["other"])
    for path, filters in [
        ("/posts", {}),
        ("/posts", {"tag": "common"}),
        ("/posts", {"author_id": author.id, "q": "b"}),
        (f"/users/{author.id}/posts", {}),
    ]:
        params = {**filters, "order": order, "limit": limit}
        expected = await all_ids(client, path, params)
        assert len(expected) >= 3
        assert await walk(client, path, params) == expected, (path, filters)


@pytest.mark.parametrize("order", USER_ORDERS)
async def test_user_cursor_pages_give_every_user_once_in_order(
    client: httpx.AsyncClient, make_user: MakeUser, order: str, token_for: Any
) -> None:
    users = [await make_user(name=name) for name in ["Bea", "Al", "Bea", "Cy", "Bea"]]
    admin = await make_user(name="Al", role=Role.ADMIN)
    await User.filter(id__in=[users[1].id, users[2].id, users[3].id]).update(created_at=SAME_TIME)
    for filters, headers in [({}, {}), ({"q": "bea"}, {}), ({"role": "member"}, token_for(admin))]:
        params = {**filters, "order": order, "limit": 2}
        expected = await all_ids(client, "/users", params)
        ids: list[int] = []
        response = await client.get("/users", params=params, headers=headers)
        while True:
            page = response.json()
            ids += [item["id"] for item in page["items"]]
            if page["next_cursor"] is None:
                break
            response = await client.get("/users", params={**params, "cursor": page["next_cursor"]}, headers=headers)
        if not headers:
            assert ids == expected
        else:
            assert len(ids) == len(set(ids)) == 5


async def test_tag_cursor_pages_give_every_tag_once_by_name(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    for n in range(7):
        await make_post(author, tags=[f"tag{n}", "zz"])
    expected = await all_ids(client, "/tags", {})
    assert len(expected) == 8
    assert await walk(client, "/tags", {"limit": 3}) == expected


async def test_a_cursor_walk_survives_inserts_and_deletes(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    ids = [await make_post(author, title=f"p{n}") for n in range(10)]  # newest first: ids[9] .. ids[0]
    first = (await client.get("/posts", params={"limit": 3})).json()
    assert [item["id"] for item in first["items"]] == ids[9:6:-1]
    assert first["total"] == 10
    await make_post(author, title="newer")  # would shift every offset page
    await Post.filter(id__in=[ids[8], ids[5]]).delete()  # one already shown, one not yet
    seen = [item["id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        page = (await client.get("/posts", params={"limit": 3, "cursor": cursor})).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [ids[9], ids[8], ids[7], ids[6], ids[4], ids[3], ids[2], ids[1], ids[0]]


async def test_a_cursor_page_has_no_offset_and_no_total_and_the_last_page_no_next_cursor(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    for n in range(3):
        await make_post(author, title=f"p{n}")
    first = (await client.get("/posts", params={"limit": 2})).json()
    assert (first["offset"], first["total"]) == (0, 3)
    assert isinstance(first["next_cursor"], str)
    second = (await client.get("/posts", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert (second["offset"], second["total"], second["next_cursor"], len(second["items"])) == (None, None, None, 1)
    exact = (await client.get("/posts", params={"limit": 3})).json()
    assert (len(exact["items"]), exact["next_cursor"]) == (3, None)  # no empty page to ask for
    later = (await client.get("/posts", params={"limit": 1, "offset": 1})).json()
    assert later["offset"] == 1
    after_later = (await client.get("/posts", params={"limit": 1, "cursor": later["next_cursor"]})).json()
    assert after_later["items"][0]["id"] == exact["items"][2]["id"]


async def test_a_cursor_with_an_offset_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    await make_user()
    for n in range(3):
        await make_post(author, tags=[f"t{n}"])
    for path in ("/posts", f"/users/{author.id}/posts", "/users", "/tags"):
        cursor = (await client.get(path, params={"limit": 1})).json()["next_cursor"]
        assert cursor is not None, path
        assert_error(await client.get(path, params={"cursor": cursor, "offset": 0}), 400, keys={"offset"})


def tampered(cursor: str) -> list[str]:
    payload, _, signature = cursor.partition(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(raw.replace(b",", b",1")).rstrip(b"=").decode()
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [f"{forged}.{signature}", f"{payload}.{flipped}", f"{payload}.", "abc.def", "!!", payload]


async def test_tampered_and_foreign_cursors_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    await make_user()
    for n in range(3):
        await make_post(author, tags=["x", f"t{n}"])
    cursors = {
        path: (await client.get(path, params={"limit": 1})).json()["next_cursor"]
        for path in ("/posts", "/users", "/tags")
    }
    for cursor in tampered(cursors["/posts"]):
        assert_error(await client.get("/posts", params={"cursor": cursor}), 400, keys={"cursor"})
    foreign = [
        ("/posts", {"order": "title"}),
        ("/posts", {"tag": "x"}),
        ("/posts", {"author_id": author.id}),
        ("/posts", {"q": "post"}),
        ("/users", {}),
        ("/tags", {}),
        (f"/users/{author.id + 1}/posts", {}),
    ]
    for path, params in foreign:
        response = await client.get(path, params={**params, "cursor": cursors["/posts"]})
        assert_error(response, 400, keys={"cursor"})
    assert_error(await client.get("/posts", params={"cursor": cursors["/users"]}), 400, keys={"cursor"})
    ok = await client.get("/posts", params={"cursor": cursors["/posts"], "limit": 5})  # the limit may change
    assert ok.status_code == 200
    assert len(ok.json()["items"]) == 2


async def test_a_cursor_signed_with_another_secret_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    from service.pages import Position, paging

    author = await make_user()
    await make_post(author)
    page = paging("another service's secret" * 2, "posts", 20, None, None, "id", author_id=None, tag=None, q=None)
    foreign = page.cursor(Position(None, 10**6))
    response = await client.get("/posts", params={"order": "id", "cursor": foreign})
    assert_error(response, 400, keys={"cursor"})


async def test_a_user_s_posts_by_cursor_of_a_deleted_user_is_a_404(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    for _ in range(2):
        await make_post(author)
    cursor = (await client.get(f"/users/{author.id}/posts", params={"limit": 1})).json()["next_cursor"]
    await author.delete()
    assert_error(await client.get(f"/users/{author.id}/posts", params={"cursor": cursor}), 404)
