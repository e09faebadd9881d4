"""Posts: reads in one statement each (service/sql.py), writes through the models in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from litestar.exceptions import NotFoundException
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service import sql
from service.db import retry_on_conflict
from service.models import Post
from service.posts import schemas
from service.tags.queries import add_tags, ensure_tags, link_tags, replace_tags

_TAG_NAMES = (
    "ARRAY(SELECT t.name FROM post_tags pt JOIN tags t ON t.id = pt.tag_id"
    ' WHERE pt.post_id = p.id ORDER BY t.name COLLATE "C")'
)
_POST_SELECT = (
    "SELECT p.id, p.title, p.body, p.created_at, p.updated_at, p.author_id, a.name AS author_name,"
    f" {_TAG_NAMES} AS tags FROM posts p JOIN users a ON a.id = p.author_id"
)
_POST_BY_ID = f"{_POST_SELECT} WHERE p.id = $1"
_WITH_TAG = (
    "EXISTS (SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = p.id AND t.name = {})"
)
_AUTHOR_EXISTS = "EXISTS (SELECT 1 FROM users WHERE id = $3) AS author_exists"
_SORTABLE = ("created_at", "title", "id")


def _post(row: Mapping[str, Any]) -> schemas.Post:
    return sql.shaped_one(
        schemas.Post,
        {
            "id": row["id"],
            "title": row["title"],
            "body": row["body"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "author_id": row["author_id"],
            "author": {"id": row["author_id"], "name": row["author_name"]},
            "tags": row["tags"],
        },
    )


async def fetch_post(post_id: int) -> schemas.Post:
    """One post with its author and tags (one statement); NotFoundException if there is none."""
    rows = await sql.fetch(_POST_BY_ID, post_id)
    if not rows:
        raise NotFoundException(f"Post {post_id} not found")
    return _post(rows[0])


async def fetch_post_author(post_id: int) -> int:
    """The author id of a post, for permission checks; NotFoundException if there is none."""
    rows = await Post.filter(id=post_id).values("author_id")
    if not rows:
        raise NotFoundException(f"Post {post_id} not found")
    return int(rows[0]["author_id"])


@cache
def _page_sql(by_author: bool, by_tag: bool, by_title: bool, order: str, author_must_exist: bool) -> str:
    """The statement for one combination of filters (there are few: each is built once)."""
    conditions: list[str] = []
    if by_author:
        conditions.append("p.author_id = $3")
    if by_tag:
        conditions.append(_WITH_TAG.format(f"${3 + by_author}"))
    if by_title:
        conditions.append(f"p.title ILIKE ${3 + by_author + by_tag} ESCAPE '\\'")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    if author_must_exist:
        count = f"SELECT count(*) AS total, {_AUTHOR_EXISTS} FROM posts p{where}"
    elif where:
        count = f"SELECT count(*) AS total FROM posts p{where}"
    else:  # the total is kept by triggers (migration 3): counting every post would grow with the table
        count = sql.counted("posts")
    return sql.paged(count, f"{_POST_SELECT}{where} ORDER BY {sql.order_by('p', order, _SORTABLE)}")


async def list_posts(
    limit: int,
    offset: int,
    *,
    author_id: int | None = None,
    tag: str | None = None,
    q: str | None = None,
    order: str = "-created_at",
    author_must_exist: bool = False,
) -> tuple[list[schemas.Post], int]:
    """A page of posts (with authors and tags) matching the filters, and how many match in all: one statement.

    With ``author_must_exist`` (and ``author_id``), NotFoundException when there is no such user.
    """
    tag = tag.strip().lower() if tag is not None else None
    q = q.strip() if q else None
    args: list[Any] = [limit, offset]
    args += [value for value in (author_id, tag, sql.like_pattern(q) if q else None) if value is not None]
    statement = _page_sql(author_id is not None, tag is not None, bool(q), order, author_must_exist)
    rows = await sql.fetch(statement, *args)
    if author_must_exist and not rows[0]["author_exists"]:
        raise NotFoundException(f"User {author_id} not found")
    return [_post(row) for row in rows if row["id"] is not None], rows[0]["total"]


async def create_posts(author_id: int, posts: Sequence[tuple[str, str | None, Sequence[str]]]) -> list[int]:
    """Insert ``(title, body, tag names)`` posts by ``author_id`` with their tags; return their ids in order.

    For an author created in the same transaction (sign-up): their newest posts are these. A fixed number of
    statements for any number of posts and tags.
    """
    if not posts:
        return []
    await Post.bulk_create([Post(author_id=author_id, title=title, body=body) for title, body, _ in posts])
    rows = await Post.filter(author_id=author_id).order_by("-id").limit(len(posts)).values("id")
    ids = [int(row["id"]) for row in reversed(rows)]
    tag_ids = await ensure_tags(name for _, _, names in posts for name in names)
    links = [(post_id, tag_ids[name]) for post_id, (_, _, names) in zip(ids, posts, strict=True) for name in names]
    await link_tags(links)
    return ids


@retry_on_conflict
async def create_post(author_id: int, title: str, body: str | None, tags: Sequence[str]) -> int:
    """Insert one post and its tags in one transaction; return its id."""
    async with in_transaction():
        post = await Post.create(author_id=author_id, title=title, body=body)
        await add_tags(post.id, tags)
    return int(post.id)


@retry_on_conflict
async def update_post(post_id: int, changes: dict[str, Any], actor_may_edit: Callable[[int], None]) -> None:
    """Apply ``changes`` (``tags`` replaces the set) to a post locked for the transaction.

    ``actor_may_edit(author_id)`` raises unless the caller may edit the post; NotFoundException if it is gone.
    """
    async with in_transaction():
        post = await Post.filter(id=post_id).select_for_update().only("id", "author_id").first()
        if post is None:
            raise NotFoundException(f"Post {post_id} not found")
        actor_may_edit(post.author_id)
        tags = changes.pop("tags", None)
        await Post.filter(id=post_id).update(**changes, updated_at=now())
        if tags is not None:
            await replace_tags(post_id, tags)


@retry_on_conflict
async def delete_post(post_id: int) -> None:
    """Delete a post (its tag links go with it, the tags stay); NotFoundException if there is none."""
    if not await Post.filter(id=post_id).delete():
        raise NotFoundException(f"Post {post_id} not found")
