"""The hand-written statements of the hot reads (service/sql.py) answer exactly what the ORM would.

The oracle is the models themselves: each response is rebuilt here with Tortoise's eager loading
(``select_related`` for the author and the profile, ``prefetch_related`` for tags and posts) and the generated
response schemas, and must equal what the endpoint returned, on data with every shape: users with and without
profiles and posts, posts with zero to many tags, an admin, a deleted user.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter
from tortoise.query_utils import Prefetch

from service.models import Post, Profile, Role, Tag, User
from service.posts.schemas import Post as PostSchema
from service.users.schemas import User as UserSchema
from tests.conftest import MakePost, MakeUser


def as_json(value: Any) -> Any:
    """What the API would send for ``value`` (a schema instance or a plain value): its JSON form."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return TypeAdapter(Any).dump_python(value, mode="json")


async def orm_post(post: Post) -> dict[str, Any]:
    tags = sorted(tag.name for tag in post.tags)
    data = PostSchema.model_validate(
        {
            "id": post.id,
            "title": post.title,
            "body": post.body,
            "created_at": post.created_at,
            "updated_at": post.updated_at,
            "author_id": post.author_id,
            "author": {"id": post.author.id, "name": post.author.name},
            "tags": tags,
        }
    )
    return dict(as_json(data))


@pytest.fixture
async def world(make_user: MakeUser, make_post: MakePost) -> None:
    rng = random.Random(7)
    names = [f"tag{n}" for n in range(15)]
    for n in range(12):
        user = await make_user(name=f"{'ABCDEFGHIJKL'[n]}{n}", role=Role.ADMIN if n == 3 else Role.MEMBER)
        if n % 3:
            await Profile.create(user_id=user.id, bio=f"bio {n}", website=None if n % 2 else "https://x.example/")
        for m in range(n % 5):
            await make_post(user, title=f"post {n}.{m}", body=None if m == 1 else "text", tags=rng.sample(names, m * 2))
    gone = await make_user()
    await make_post(gone, tags=["tag1"])
    await gone.delete()


@pytest.mark.usefixtures("world")
async def test_post_pages_and_details_match_the_orm(client: httpx.AsyncClient) -> None:
    posts = (
        await Post.all()
        .select_related("author")
        .prefetch_related(Prefetch("tags", queryset=Tag.all().only("id", "name")))
        .order_by("-created_at", "-id")
    )
    expected = [await orm_post(post) for post in posts]
    page = (await client.get("/posts", params={"limit": 100})).json()
    assert page["total"] == len(expected)
    assert page["items"] == expected
    for post in expected:
        assert (await client.get(f"/posts/{post['id']}")).json() == post
    tag = "tag3"
    tagged = [post for post in expected if tag in post["tags"]]
    assert (await client.get("/posts", params={"tag": tag, "limit": 100})).json()["items"] == tagged


@pytest.mark.usefixtures("world")
async def test_user_pages_and_details_match_the_orm(client: httpx.AsyncClient) -> None:
    users = await User.all().select_related("profile").prefetch_related("posts").order_by("name", "id")
    page = (await client.get("/users", params={"limit": 100, "order": "name"})).json()
    assert page["total"] == len(users)
    assert page["items"] == [as_json(UserSchema.model_validate(user)) for user in users]
    for user in users:
        recent = sorted(user.posts, key=lambda post: (post.created_at, post.id), reverse=True)[:20]
        profile = getattr(user, "profile", None)
        expected = {
            **as_json(UserSchema.model_validate(user)),
            "profile": None if profile is None else {"bio": profile.bio, "website": profile.website},
            "post_count": len(user.posts),
            "posts": [
                {"id": post.id, "title": post.title, "created_at": as_json(post.created_at), "author_id": user.id}
                for post in recent
            ],
        }
        assert (await client.get(f"/users/{user.id}")).json() == expected, user.id
    members = [user for user in users if user.role == Role.MEMBER]
    by_role = (await client.get("/users", params={"role": "member", "order": "name", "limit": 100})).json()
    assert [item["id"] for item in by_role["items"]] == [user.id for user in members]
    assert by_role["total"] == len(members)
