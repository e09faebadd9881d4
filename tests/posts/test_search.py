"""GET /posts?search=: full-text search of titles and bodies with stemming, ranked by relevance unless ``order`` says
otherwise, combined with the other filters and with cursors, served by the GIN index of the trigger-kept vector."""

from __future__ import annotations

from typing import Any

import httpx
from tortoise import connections

from service.models import Post
from service.posts import queries
from tests.conftest import MakePost, MakeUser
from tests.helpers import PAGE_KEYS


async def ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get("/posts", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == PAGE_KEYS
    assert page["total"] == len(page["items"])
    return [item["id"] for item in page["items"]]


async def test_search_finds_every_form_of_a_word_in_titles_and_bodies(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    runs = await make_post(author, title="Morning", body="She runs every day")
    title = await make_post(author, title="Running shoes", body=None)
    other = await make_post(author, title="Walking", body="A slow walk")
    assert set(await ids(client, search="running")) == {runs, title}
    assert set(await ids(client, search="RUN")) == {runs, title}
    assert await ids(client, search="walked") == [other]
    assert await ids(client, search="running walk") == []  # every word must match
    assert await ids(client, search="the") == []  # only a stop word: nothing to look for
    assert await ids(client, search="nowhere") == []
    assert len(await ids(client, search="   ")) == 3  # blank: no search


async def test_search_follows_edits_of_titles_and_bodies(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Any
) -> None:
    author = await make_user()
    post_id = await make_post(author, title="Cats", body="Purring")
    assert await ids(client, search="dog") == []
    response = await client.patch(f"/posts/{post_id}", json={"body": "Dogs bark"}, headers=token_for(author))
    assert response.status_code == 200
    assert await ids(client, search="dog") == [post_id]
    assert await ids(client, search="purring") == []


async def test_search_ranks_by_relevance_unless_order_says_otherwise(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    in_body = await make_post(author, title="Notes", body="about postgres indexes")
    in_title = await make_post(author, title="Postgres", body="notes")
    twice = await make_post(author, title="Postgres tuning", body="postgres postgres")
    assert await ids(client, search="postgres") == [twice, in_title, in_body]
    assert await ids(client, search="postgres", order="-created_at") == [twice, in_title, in_body]  # newest first
    assert await ids(client, search="postgres", order="id") == [in_body, in_title, twice]
    assert await ids(client, order="-rank") == [twice, in_title, in_body]  # no search: all as relevant, by -id


async def test_search_combines_with_the_other_filters(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    ada, bob = await make_user(), await make_user()
    tagged = await make_post(ada, title="Python tips", tags=["code"])
    await make_post(ada, title="Python news")
    bobs = await make_post(bob, title="Python snakes", tags=["code"])
    assert set(await ids(client, search="python", tag="code")) == {tagged, bobs}
    assert await ids(client, search="python", tag="code", author_id=ada.id) == [tagged]
    assert await ids(client, search="python", q="snake") == [bobs]


async def test_search_pages_by_cursor_in_rank_order_with_ties(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    for n in range(8):  # ties: 1, 5 and 7 match by title alone, 0 and 6 by body alone; 3 by both
        await make_post(author, title="Search" if n % 2 else f"Other {n}", body="search" if n % 3 == 0 else "")
    expected = await ids(client, search="search")
    assert len(expected) == 6
    seen: list[int] = []
    response = await client.get("/posts", params={"search": "search", "limit": 2})
    while True:
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        response = await client.get("/posts", params={"search": "search", "limit": 2, "cursor": page["next_cursor"]})
        assert response.status_code == 200
        assert response.json()["total"] is None
    assert seen == expected
    wrong = await client.get("/posts", params={"search": "other", "cursor": page["next_cursor"] or "x.y"})
    assert wrong.status_code == 400


async def test_rows_written_before_the_trigger_are_found_after_the_backfill(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    author = await make_user()
    post_id = await make_post(author, title="Backfilled", body="Written before migration 5")
    await Post.filter(id=post_id).update(search_vector=None)  # as the rows the migration found
    assert await ids(client, search="backfilled") == []
    await connections.get("default").execute_script("CALL posts_search_backfill(1)")
    assert await ids(client, search="backfilled") == [post_id]


async def test_a_search_is_served_by_the_gin_index(make_user: MakeUser) -> None:
    author = await make_user()
    db = connections.get("default")
    await db.execute_query(
        "INSERT INTO posts (title, body, author_id, created_at, updated_at)"
        " SELECT 'post ' || n, CASE WHEN n % 1000 = 0 THEN 'a rare zeppelin' ELSE 'common words' END, $1, now(), now()"
        " FROM generate_series(1, 5000) n",
        [author.id],
    )
    await db.execute_script("VACUUM ANALYZE posts")  # as autovacuum would: statistics, GIN's pending list merged
    sql, params = queries._post_page.plan(21, None, None, None, None, "-rank", search="zeppelins")
    _, rows = await db.execute_query(f"EXPLAIN {sql}", params)
    plan = "\n".join(row["QUERY PLAN"] for row in rows)
    assert "Bitmap Index Scan on idx_posts_search_vector" in plan, plan
    assert "Seq Scan on posts" not in plan, plan
