"""/posts: create, read, list with filters, update (tags replace the set), delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.models import Post, Role, Tag, User
from tests.conftest import MakePost, MakeUser
from tests.helpers import PAGE_KEYS, POST_KEYS, assert_error, assert_utc_timestamp

Headers = Callable[[User], dict[str, str]]


async def test_create_returns_the_post_with_author_and_normalised_tags(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    author = await make_user(name="Ada")
    someone = await make_user()
    response = await client.post(
        "/posts",
        json={
            "title": "  Hello  ",
            "body": "World",
            "tags": [" Python ", "python", "ORM", "async"],
            "author_id": someone.id,
        },
        headers=token_for(author),
    )
    assert response.status_code == 201, response.text
    post = response.json()
    assert set(post) == POST_KEYS
    assert post["title"] == "Hello"
    assert post["body"] == "World"
    assert post["author_id"] == author.id
    assert post["author"] == {"id": author.id, "name": "Ada"}
    assert post["tags"] == ["async", "orm", "python"]
    assert_utc_timestamp(post["created_at"])
    assert (await client.get(f"/posts/{post['id']}")).json() == post


async def test_create_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/posts", json={"title": "x"}), 401)
    assert await Post.all().count() == 0


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": " \t "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"title": "ok", "body": "b" * 100_001}, "body"),
        ({"title": "ok", "body": "nul\x00"}, "body"),
        ({"title": "ok", "tags": "python"}, "tags"),
        ({"title": "ok", "tags": [f"t{n}" for n in range(11)]}, "tags"),
        ({"title": "ok", "tags": [""]}, "tags.0"),
        ({"title": "ok", "tags": ["x" * 51]}, "tags.0"),
        ({"title": "ok", "tags": [7]}, "tags.0"),
        ({"title": "ok", "tags": ["new\nline"]}, "tags.0"),
        ({"title": "ok", "tags": ["x" * 51 + " "]}, "tags.0"),
        ({"title": "ok", "tags": ["same"] * 11}, "tags"),  # at most 10 names, even when they collapse
    ],
)
async def test_invalid_posts_are_400(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, body: dict[str, Any], key: str
) -> None:
    user = await make_user()
    assert_error(await client.post("/posts", json=body, headers=token_for(user)), 400, keys={key})
    assert await Post.all().count() == 0
    assert await Tag.all().count() == 0


async def test_ten_tag_names_collapse_to_the_distinct_lower_case_ones(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    tags = ["T1", "t1", " t2 ", "T2", "t3", "t3", "T4", "t5", "t5", "T5"]
    response = await client.post("/posts", json={"title": "many", "tags": tags}, headers=token_for(user))
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == ["t1", "t2", "t3", "t4", "t5"]


async def test_a_tag_name_keeps_its_length_once_lower_cased(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    """'İ' lower-cases to 'i' (one character, not 'i' and a combining dot), so any name of 1..50 characters fits."""
    user = await make_user()
    names = ["\u0130" * 50, "a" * 49 + "\u0130", "  \u0130stanbul  "]
    response = await client.post("/posts", json={"title": "t", "tags": names}, headers=token_for(user))
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == sorted(["i" * 50, "a" * 49 + "i", "istanbul"])
    found = (await client.get("/posts", params={"tag": "\u0130STANBUL"})).json()
    assert [post["id"] for post in found["items"]] == [response.json()["id"]]


async def test_text_that_looks_like_sql_or_html_is_stored_verbatim(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    title = "'; DROP TABLE posts; -- <script>alert(1)</script>"
    body = "Robert'); DELETE FROM users WHERE ('1'='1 & <b>bold</b> \\x00 %s $1"
    response = await client.post("/posts", json={"title": title, "body": body}, headers=token_for(user))
    assert response.status_code == 201, response.text
    fetched = (await client.get(f"/posts/{response.json()['id']}")).json()
    assert (fetched["title"], fetched["body"]) == (title, body)
    assert await User.all().count() == 1


async def test_get_unknown_post_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/posts/4040"), 404)
    assert_error(await client.get(f"/posts/{-(2**63) - 1}"), 400, keys={"post_id"})


async def test_list_filters_and_orders(client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost) -> None:
    ada = await make_user(name="Ada")
    bob = await make_user(name="Bob")
    p1 = await make_post(ada, title="Banana bread", tags=["food"])
    p2 = await make_post(bob, title="Apple pie", tags=["food", "dessert"])
    p3 = await make_post(ada, title="Cherry", tags=["dessert"])
    page = (await client.get("/posts")).json()
    assert set(page) == PAGE_KEYS
    assert [item["id"] for item in page["items"]] == [p3, p2, p1]
    assert all(set(item) == POST_KEYS for item in page["items"])
    assert page["items"][1]["author"] == {"id": bob.id, "name": "Bob"}
    assert page["items"][1]["tags"] == ["dessert", "food"]

    async def ids(**params: Any) -> list[int]:
        return [item["id"] for item in (await client.get("/posts", params=params)).json()["items"]]

    assert await ids(author_id=ada.id) == [p3, p1]
    assert await ids(tag="DESSERT") == [p3, p2]
    assert await ids(tag="nothing") == []
    assert await ids(q="PIE") == [p2]
    assert await ids(q="e", author_id=ada.id, tag="food") == [p1]
    assert await ids(order="title") == [p2, p1, p3]
    assert await ids(order="-title") == [p3, p1, p2]
    assert await ids(order="id", limit=2, offset=1) == [p2, p3]
    counted = (await client.get("/posts", params={"tag": "food", "limit": 1})).json()
    assert (counted["total"], len(counted["items"])) == (2, 1)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"author_id": 2**63}, "author_id"),
        ({"author_id": "me"}, "author_id"),
        ({"order": "body"}, "order"),
        ({"limit": -5}, "limit"),
        ({"tag": "a\x00"}, "tag"),
        ({"tag": "a\u2028b"}, "tag"),
        ({"q": "a\x85b"}, "q"),
    ],
)
async def test_list_rejects_bad_parameters(client: httpx.AsyncClient, params: dict[str, Any], key: str) -> None:
    assert_error(await client.get("/posts", params=params), 400, keys={key})


async def test_author_updates_title_body_and_replaces_tags(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user()
    post_id = await make_post(author, title="Old", body="text", tags=["a", "b"])
    before = (await client.get(f"/posts/{post_id}")).json()
    headers = token_for(author)
    response = await client.patch(f"/posts/{post_id}", json={"title": "New", "tags": ["C", "b", "c"]}, headers=headers)
    assert response.status_code == 200, response.text
    post = response.json()
    assert set(post) == POST_KEYS
    assert (post["title"], post["body"], post["tags"]) == ("New", "text", ["b", "c"])
    assert post["updated_at"] > before["updated_at"]
    cleared = await client.patch(f"/posts/{post_id}", json={"body": None, "tags": []}, headers=headers)
    assert (cleared.json()["body"], cleared.json()["tags"]) == (None, [])
    assert sorted(await Tag.all().values_list("name", flat=True)) == ["a", "b", "c"]


async def test_update_rules(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user()
    other = await make_user()
    admin = await make_user(role=Role.ADMIN)
    post_id = await make_post(author, title="Mine")
    assert_error(await client.patch(f"/posts/{post_id}", json={"title": "x"}), 401)
    assert_error(await client.patch(f"/posts/{post_id}", json={"title": "x"}, headers=token_for(other)), 403)
    assert_error(
        await client.patch(f"/posts/{post_id}", json={"title": None}, headers=token_for(author)), 400, keys={"title"}
    )
    assert_error(
        await client.patch(f"/posts/{post_id}", json={"tags": None}, headers=token_for(author)), 400, keys={"tags"}
    )
    assert_error(await client.patch("/posts/777", json={"title": "x"}, headers=token_for(admin)), 404)
    by_admin = await client.patch(f"/posts/{post_id}", json={"title": "Edited"}, headers=token_for(admin))
    assert by_admin.status_code == 200
    assert by_admin.json()["author_id"] == author.id
    assert (await Post.get(id=post_id)).title == "Edited"


async def test_delete_keeps_the_tags(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user()
    other = await make_user()
    admin = await make_user(role=Role.ADMIN)
    first = await make_post(author, tags=["keep"])
    second = await make_post(author, tags=["keep"])
    assert_error(await client.delete(f"/posts/{first}"), 401)
    assert_error(await client.delete(f"/posts/{first}", headers=token_for(other)), 403)
    response = await client.delete(f"/posts/{first}", headers=token_for(author))
    assert (response.status_code, response.content) == (204, b"")
    assert_error(await client.get(f"/posts/{first}"), 404)
    assert_error(await client.delete(f"/posts/{first}", headers=token_for(author)), 404)
    assert (await client.delete(f"/posts/{second}", headers=token_for(admin))).status_code == 204
    tags = (await client.get("/tags")).json()["items"]
    assert tags == [{"id": tags[0]["id"], "name": "keep", "post_count": 0}]


async def test_updated_at_moves_only_when_a_stored_value_changes(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    user = await make_user()
    post_id = await make_post(user, title="Same", body=None, tags=["a", "b"])
    before = (await client.get(f"/posts/{post_id}")).json()
    same = {"title": "  Same ", "body": None, "tags": ["B", "a", "a"]}  # equal once normalised
    unchanged = await client.patch(f"/posts/{post_id}", json=same, headers=token_for(user))
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["updated_at"] == before["updated_at"]
    retagged = await client.patch(f"/posts/{post_id}", json={"tags": ["a"]}, headers=token_for(user))
    assert retagged.json()["tags"] == ["a"]
    assert retagged.json()["updated_at"] > before["updated_at"]
    retitled = await client.patch(f"/posts/{post_id}", json={"title": "Other"}, headers=token_for(user))
    assert retitled.json()["updated_at"] > retagged.json()["updated_at"]
    added = await client.patch(f"/posts/{post_id}", json={"tags": ["a", "c"]}, headers=token_for(user))
    assert added.json()["tags"] == ["a", "c"]
    assert added.json()["updated_at"] > retitled.json()["updated_at"]  # a tag added, none removed


@pytest.mark.parametrize(
    ("body", "key", "found"),
    [
        ({"title": "a\u2028b"}, "title", "U+2028 LINE SEPARATOR"),
        ({"title": "a\x85b"}, "title", "U+0085"),
        ({"title": "pay\u202egpj.exe"}, "title", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ({"title": "a\u200bb"}, "title", "U+200B ZERO WIDTH SPACE"),
        ({"title": "a\ufeffb"}, "title", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ({"title": "t", "tags": ["py\u200dthon"]}, "tags.0", "U+200D ZERO WIDTH JOINER"),
        ({"title": "t", "tags": ["py\u00adthon"]}, "tags.0", "U+00AD SOFT HYPHEN"),
        ({"title": "t", "body": "a\x9bb"}, "body", "U+009B"),
    ],
)
async def test_line_breaks_and_invisible_characters_are_400_naming_the_character(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, body: dict[str, Any], key: str, found: str
) -> None:
    user = await make_user()
    problem = assert_error(await client.post("/posts", json=body, headers=token_for(user)), 400, keys={key})
    assert problem["extra"][0]["message"].endswith(f"; found {found}")
    assert await Post.all().count() == 0


async def test_titles_keep_joiners_but_not_zero_width_spaces_and_bodies_keep_every_line_break(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    spaced = await client.post("/posts", json={"title": "a\u200bb"}, headers=token_for(user))
    assert_error(spaced, 400, keys={"title"})
    title = "\U0001f469\u200d\U0001f4bb \u0915\u094d\u200c\u0937"  # an emoji ZWJ sequence, a ZWNJ in Devanagari
    body = "one\u2028two\u2029three\x85four\r\nfive\tsix"
    response = await client.post("/posts", json={"title": title, "body": body}, headers=token_for(user))
    assert response.status_code == 201, response.text
    fetched = (await client.get(f"/posts/{response.json()['id']}")).json()
    assert (fetched["title"], fetched["body"]) == (title, body)
