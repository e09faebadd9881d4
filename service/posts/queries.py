"""Reading and writing posts with a fixed number of statements, whatever the page size."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotFoundException
from tortoise.timezone import now

from service.models import Post
from service.params import PageRequest

POST_ORDERINGS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "id": ("id",),
    "-id": ("-id",),
}
_POST_COLUMNS = ("id", "title", "body", "author_id", "created_at", "updated_at")


def _as_post(row: dict[str, Any]) -> dict[str, Any]:
    row["author"] = {"id": row["author_id"], "name": row.pop("author_name")}
    row["tags"] = []
    return row


async def fetch_post(post_id: int) -> dict[str, Any]:
    """One post with its author's id and name; NotFoundException if there is none."""
    rows = await Post.filter(id=post_id).values(*_POST_COLUMNS, author_name="author__name")
    if not rows:
        raise NotFoundException(f"Post {post_id} not found")
    return _as_post(rows[0])


async def fetch_post_author(post_id: int) -> int:
    """The author id of a post, for permission checks; NotFoundException if there is none."""
    rows = await Post.filter(id=post_id).values("author_id")
    if not rows:
        raise NotFoundException(f"Post {post_id} not found")
    return int(rows[0]["author_id"])


async def list_posts(
    page: PageRequest, *, author_id: int | None = None, q: str | None = None, order: str = "-created_at"
) -> tuple[list[dict[str, Any]], int]:
    """A page of posts (with author id and name) matching the filters, and how many match in all."""
    query = Post.all()
    if author_id is not None:
        query = query.filter(author_id=author_id)
    if q and (q := q.strip()):
        query = query.filter(title__icontains=q)
    total = await query.count()
    if page.offset >= total:
        return [], total
    rows = (
        await query.order_by(*POST_ORDERINGS[order])
        .offset(page.offset)
        .limit(page.limit)
        .values(*_POST_COLUMNS, author_name="author__name")
    )
    return [_as_post(row) for row in rows], total


async def create_post(author_id: int, title: str, body: str | None) -> int:
    """Insert a post by ``author_id``; return its id."""
    post = await Post.create(author_id=author_id, title=title, body=body)
    return int(post.id)


async def update_post(post_id: int, changes: dict[str, Any]) -> None:
    """Apply ``changes`` to a post; NotFoundException if it vanished meanwhile."""
    if not await Post.filter(id=post_id).update(**changes, updated_at=now()):
        raise NotFoundException(f"Post {post_id} not found")


async def delete_post(post_id: int) -> None:
    """Delete a post (its tag links go with it); NotFoundException if there is none."""
    if not await Post.filter(id=post_id).delete():
        raise NotFoundException(f"Post {post_id} not found")
