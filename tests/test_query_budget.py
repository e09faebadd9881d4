"""Every list and detail endpoint sends a fixed number of SQL statements, whatever the number of rows.

Statements are counted where they leave for PostgreSQL (``service.db.client.track_queries``, the counter behind
the access log's ``queries`` field), BEGIN and COMMIT included. Each endpoint is measured on a small and a large
data set: an N+1 shows up as a count that grows with the data and fails the test that names the endpoint.

Every budget states both modes (``orm_mode``, see tests/conftest.py): ``fast`` with the compiled reads (prefetches
inlined in their read's statement) and ``plain`` with ``ORM_FAST_PATH`` off, where each read is the Tortoise
queryset as written: a reverse foreign key prefetch is one more statement, a many-to-many prefetch two more (the
link table, then the tags).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.db.client import track_queries
from service.models import Profile, User
from tests.conftest import MakePost, MakeUser

Headers = Callable[[User], dict[str, str]]

Budget = dict[str, int]  # orm_mode -> statements


def both(fast: int, plain: int) -> Budget:
    return {"fast": fast, "plain": plain}


# (method, path template, expected statements per mode); {user} is the author of every post, {post} one of their
# posts. Fast: prefetches are inlined (each parent row carries its related rows). Both: a first page carries its total.
READ_BUDGETS = [
    ("GET", "/users", both(1, 1)),  # the page and its total (the trigger-kept counter, a subquery)
    ("GET", "/users?role=member&q=user&order=name", both(1, 1)),  # the page and its count (a subquery)
    # user + profile (joined) + post count + 20 recent posts (prefetch: inlined, or a statement)
    ("GET", "/users/{user}", both(1, 2)),
    ("GET", "/users/{user}/posts", both(1, 3)),  # page with authors (joined), tags (prefetch) and the count
    ("GET", "/posts?limit=100", both(1, 3)),  # page with authors, tags and the counter
    ("GET", "/posts?tag=common&q=post&author_id={user}&order=title&limit=100", both(1, 3)),
    ("GET", "/posts/{post}", both(1, 3)),  # post + author (joined) + its tags (prefetch)
    # a full-text search page: ranked posts with authors, tags and the count of matches (a subquery)
    ("GET", "/posts?search=post&limit=100", both(1, 3)),
    ("GET", "/posts?search=post&tag=common&order=title&limit=100", both(1, 3)),
    ("GET", "/tags?limit=100", both(2, 2)),  # count, page with post counts
    # a later page: the count, the page, its tags (prefetch: bounded by the page, never inlined)
    ("GET", "/posts?offset=1", both(3, 4)),
    ("GET", "/users?offset=1", both(2, 2)),
    ("GET", "/posts?offset=1000", both(1, 1)),  # past the end: the count alone
    ("GET", "/posts?search=post&offset=1", both(3, 4)),
    ("GET", "/users?offset=1000", both(1, 1)),
]


async def seed(make_user: MakeUser, make_post: MakePost, posts: int) -> tuple[User, int]:
    """A user with a profile and ``posts`` posts of 3 tags each, plus as many other users."""
    author = await make_user()
    await Profile.create(user_id=author.id, bio="bio")
    post_id = 0
    for n in range(posts):
        await make_user()
        post_id = await make_post(author, title=f"post {n}", tags=["common", f"tag{n}", f"other{n % 7}"])
    return author, post_id


async def statements(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> int:
    with track_queries() as stats:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 300, response.text
    return stats.count


@pytest.mark.parametrize(("method", "template", "budget"), READ_BUDGETS, ids=[f"{m} {t}" for m, t, _ in READ_BUDGETS])
@pytest.mark.parametrize("rows", [5, 50])
async def test_read_endpoints_cost_a_fixed_number_of_statements(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_post: MakePost,
    method: str,
    template: str,
    budget: Budget,
    rows: int,
    orm_mode: str,
) -> None:
    author, post_id = await seed(make_user, make_post, rows)
    path = template.format(user=author.id, post=post_id)
    assert await statements(client, method, path) == budget[orm_mode]


# A page asked for by cursor (a list's second page): no count; the posts' tags inline (fast) or two more (plain).
CURSOR_BUDGETS = [
    ("/posts?limit=2", both(1, 3)),
    ("/posts?tag=common&q=post&author_id={user}&order=title&limit=2", both(1, 3)),
    ("/posts?search=post&limit=2", both(1, 3)),  # by relevance: the cursor carries the last rank
    ("/users/{user}/posts?limit=2&order=-title", both(1, 3)),
    ("/users?limit=2&order=name", both(1, 1)),
    ("/tags?limit=2", both(1, 1)),
]


@pytest.mark.parametrize(("template", "budget"), CURSOR_BUDGETS, ids=[t for t, _ in CURSOR_BUDGETS])
@pytest.mark.parametrize("rows", [5, 50])
async def test_cursor_pages_cost_a_fixed_number_of_statements(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_post: MakePost,
    template: str,
    budget: Budget,
    rows: int,
    orm_mode: str,
) -> None:
    author, _ = await seed(make_user, make_post, rows)
    path = template.format(user=author.id)
    cursor = (await client.get(path)).json()["next_cursor"]
    assert cursor is not None
    assert await statements(client, "GET", f"{path}&cursor={cursor}") == budget[orm_mode]


async def test_me_costs_one_statement(client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers) -> None:
    # in both modes: the caller, whose row is the response
    user = await make_user()
    assert await statements(client, "GET", "/users/me", headers=token_for(user)) == 1


@pytest.mark.parametrize("tags", [1, 10])
async def test_creating_a_post_costs_the_same_for_1_or_10_tags(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, tags: int, orm_mode: str
) -> None:
    user = await make_user()
    body = {"title": "t", "tags": [f"tag{n}" for n in range(tags)]}
    # caller; BEGIN, insert post, insert tags, select tags, insert links, COMMIT; the post with its tags (1 or 3)
    assert await statements(client, "POST", "/posts", json=body, headers=token_for(user)) == both(8, 10)[orm_mode]


@pytest.mark.parametrize("tags", [1, 10])
async def test_updating_a_post_costs_the_same_for_1_or_10_tags(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_post: MakePost,
    token_for: Headers,
    tags: int,
    orm_mode: str,
) -> None:
    user = await make_user()
    post_id = await make_post(user, tags=["old1", "old2"])
    body = {"title": "new", "tags": [f"tag{n}" for n in range(tags)]}
    # caller; the author (may the caller edit it?); BEGIN, lock post, update, unlink, insert tags, select tags, link,
    # COMMIT; the post with its tags (1 or 3)
    expected = both(11, 13)[orm_mode]
    assert await statements(client, "PATCH", f"/posts/{post_id}", json=body, headers=token_for(user)) == expected


@pytest.mark.parametrize("posts", [1, 50])
async def test_signup_with_nested_posts_costs_the_same_for_1_or_50_posts(
    client: httpx.AsyncClient, posts: int, orm_mode: str
) -> None:
    body = {
        "name": "Ada",
        "email": "ada@example.com",
        "password": "analytical engine",
        "profile": {"bio": "hi"},
        "posts": [{"title": f"p{n}", "tags": [f"t{n % 13}", "all"]} for n in range(posts)],
    }
    # BEGIN, user, profile, posts, their ids, insert tags, select tags, links, COMMIT; the user detail (1 or 2)
    assert await statements(client, "POST", "/users", json=body) == both(10, 11)[orm_mode]


async def test_a_user_without_posts_costs_a_count_and_an_existence_check(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    assert await statements(client, "GET", f"/users/{user.id}/posts") == 2


async def test_reads_select_only_the_columns_they_show(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_post: MakePost,
    caplog: pytest.LogCaptureFixture,
    orm_mode: str,
) -> None:
    author, post_id = await seed(make_user, make_post, 3)
    caplog.set_level("INFO", logger="service.sql")
    for path in (f"/users/{author.id}", "/posts", f"/posts/{post_id}", "/users", f"/users/{author.id}/posts"):
        caplog.clear()
        assert (await client.get(path)).status_code == 200
        sent = [record.getMessage() for record in caplog.records if record.name == "service.sql"]
        assert sent, path
        for statement in sent:
            assert "password_hash" not in statement, path
            assert "token_version" not in statement, path
            # ROW("s".*) packs an inlined prefetch's rows, whose columns its own subquery lists
            assert "*" not in statement.replace("COUNT(*)", "").replace('ROW("s".*)', ""), statement
    caplog.clear()
    assert (await client.get(f"/users/{author.id}")).status_code == 200
    sent = [record.getMessage() for record in caplog.records if record.name == "service.sql"]
    assert all('"body"' not in statement for statement in sent)  # the user's recent posts come without bodies
    if orm_mode == "fast":
        (detail,) = sent
        assert '"author_id"="users"."id"' in detail  # the recent posts, correlated to the user


async def test_a_plain_signup_is_an_insert_and_a_read(client: httpx.AsyncClient, orm_mode: str) -> None:
    body = {"name": "Ada", "email": "ada@example.com", "password": "analytical engine"}
    # the insert; the user detail (1 or 2)
    assert await statements(client, "POST", "/users", json=body) == both(2, 3)[orm_mode]
