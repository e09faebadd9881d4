"""Conflicting writes at the same time: no 500, no orphan rows, no duplicate tags, one winner per email."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import asyncpg
import httpx

from service.models import Post, Tag, User
from tests.conftest import MakePost, MakeUser

Headers = Callable[[User], dict[str, str]]


async def orphans(database_url: str) -> dict[str, int]:
    """Rows whose parent is gone (there must be none: the foreign keys cascade)."""
    connection = await asyncpg.connect(database_url)
    try:
        return {
            "posts": await connection.fetchval(
                "SELECT count(*) FROM posts p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.author_id)"
            ),
            "post_tags": await connection.fetchval(
                "SELECT count(*) FROM post_tags l WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = l.post_id)"
                " OR NOT EXISTS (SELECT 1 FROM tags t WHERE t.id = l.tag_id)"
            ),
            "profiles": await connection.fetchval(
                "SELECT count(*) FROM profiles p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)"
            ),
        }
    finally:
        await connection.close()


async def test_simultaneous_signups_with_one_email_give_one_201_and_409s(client: httpx.AsyncClient) -> None:
    bodies = [
        {"name": f"Racer {n}", "email": "SAME@example.com" if n % 2 else "same@example.com", "password": "racing car"}
        for n in range(8)
    ]
    responses = await asyncio.gather(*(client.post("/users", json=body) for body in bodies))
    assert Counter(response.status_code for response in responses) == {201: 1, 409: 7}
    assert await User.filter(email="same@example.com").count() == 1


async def test_many_posts_creating_the_same_new_tags_at_once(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    users = [await make_user() for _ in range(4)]
    requests = [
        client.post(
            "/posts",
            json={"title": f"post {n}", "tags": ["fresh", "Brand-New", f"own{n}"][:: 1 - 2 * (n % 2)]},
            headers=token_for(users[n % 4]),
        )
        for n in range(12)
    ]
    responses = await asyncio.gather(*requests)
    assert [response.status_code for response in responses] == [201] * 12, [r.text for r in responses]
    assert await Tag.filter(name="fresh").count() == 1
    assert await Tag.filter(name="brand-new").count() == 1
    counts = {tag["name"]: tag["post_count"] for tag in (await client.get("/tags?limit=100")).json()["items"]}
    assert counts["fresh"] == counts["brand-new"] == 12


async def test_update_and_delete_of_one_post_at_once(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_post: MakePost,
    token_for: Headers,
    database_url: str,
) -> None:
    author = await make_user()
    headers = token_for(author)
    for _ in range(5):
        post_id = await make_post(author, tags=["a", "b"])
        update, delete = await asyncio.gather(
            client.patch(f"/posts/{post_id}", json={"title": "edited", "tags": ["c"]}, headers=headers),
            client.delete(f"/posts/{post_id}", headers=headers),
        )
        assert delete.status_code == 204
        assert update.status_code in (200, 404), update.text
        assert await Post.filter(id=post_id).count() == 0
    assert await orphans(database_url) == {"posts": 0, "post_tags": 0, "profiles": 0}


async def test_concurrent_tag_replacements_of_one_post(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, token_for: Headers
) -> None:
    author = await make_user()
    post_id = await make_post(author, tags=["start"])
    sets = [["x", "y"], ["y", "z"], ["z", "x"], ["w"]]
    responses = await asyncio.gather(
        *(client.patch(f"/posts/{post_id}", json={"tags": tags}, headers=token_for(author)) for tags in sets)
    )
    assert [response.status_code for response in responses] == [200] * 4
    final = (await client.get(f"/posts/{post_id}")).json()["tags"]
    assert final in [sorted(tags) for tags in sets]


async def test_a_user_deleted_while_posting(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers, database_url: str
) -> None:
    for _ in range(5):
        user = await make_user()
        headers = token_for(user)
        posts = [client.post("/posts", json={"title": f"t{n}", "tags": ["race"]}, headers=headers) for n in range(4)]
        *created, deleted = await asyncio.gather(*posts, client.delete(f"/users/{user.id}", headers=headers))
        assert deleted.status_code == 204
        assert {response.status_code for response in created} <= {201, 401, 404}, [r.text for r in created]
        assert await Post.filter(author_id=user.id).count() == 0
    assert await orphans(database_url) == {"posts": 0, "post_tags": 0, "profiles": 0}


async def test_simultaneous_profile_puts(client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers) -> None:
    user = await make_user()
    responses = await asyncio.gather(
        *(client.put(f"/users/{user.id}/profile", json={"bio": f"v{n}"}, headers=token_for(user)) for n in range(6))
    )
    assert [response.status_code for response in responses] == [200] * 6
    profile = (await client.get(f"/users/{user.id}")).json()["profile"]
    assert profile["bio"] in {f"v{n}" for n in range(6)}
