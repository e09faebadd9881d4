"""Reading and writing posts with a fixed number of statements, whatever the page size or tag count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar.exceptions import NotFoundException
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service.models import Post
from service.params import PageRequest
from service.tags.queries import ensure_tags, link_tags, replace_tags, tag_names_by_post

POST_ORDERINGS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "id": ("id",),
    "-id": ("-id",),
}
POST_COLUMNS = ("id", "title", "body", "author_id", "created_at", "updated_at")


async def _with_authors_and_tags(query: Any) -> list[dict[str, Any]]:
    """Rows of ``query`` as posts with ``author: {id, name}`` and ``tags``: two statements."""
    rows: list[dict[str, Any]] = await query.values(*POST_COLUMNS, author_name="author__name")
    tags = await tag_names_by_post([row["id"] for row in rows])
    for row in rows:
        row["author"] = {"id": row["author_id"], "name": row.pop("author_name")}
        row["tags"] = tags[row["id"]]
    return rows


async def fetch_post(post_id: int) -> dict[str, Any]:
    """One post with its author and tags; NotFoundException if there is none."""
    rows = await _with_authors_and_tags(Post.filter(id=post_id))
    if not rows:
        raise NotFoundException(f"Post {post_id} not found")
    return rows[0]


async def fetch_post_author(post_id: int) -> int:
    """The author id of a post, for permission checks; NotFoundException if there is none."""
    rows = await Post.filter(id=post_id).values("author_id")
    if not rows:
        raise NotFoundException(f"Post {post_id} not found")
    return int(rows[0]["author_id"])


async def list_posts(
    page: PageRequest,
    *,
    author_id: int | None = None,
    tag: str | None = None,
    q: str | None = None,
    order: str = "-created_at",
) -> tuple[list[dict[str, Any]], int]:
    """A page of posts (with authors and tags) matching the filters, and how many match in all."""
    query = Post.all()
    if author_id is not None:
        query = query.filter(author_id=author_id)
    if tag is not None:
        query = query.filter(tags__name=tag.strip().lower())
    if q and (q := q.strip()):
        query = query.filter(title__icontains=q)
    total = await query.count()
    if page.offset >= total:
        return [], total
    page_query = query.order_by(*POST_ORDERINGS[order]).offset(page.offset).limit(page.limit)
    return await _with_authors_and_tags(page_query), total


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


async def create_post(author_id: int, title: str, body: str | None, tags: Sequence[str]) -> int:
    """Insert one post and its tags in one transaction; return its id."""
    async with in_transaction():
        post = await Post.create(author_id=author_id, title=title, body=body)
        tag_ids = await ensure_tags(tags)
        await link_tags([(post.id, tag_ids[name]) for name in tags])
    return int(post.id)


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


async def delete_post(post_id: int) -> None:
    """Delete a post (its tag links go with it, the tags stay); NotFoundException if there is none."""
    if not await Post.filter(id=post_id).delete():
        raise NotFoundException(f"Post {post_id} not found")
