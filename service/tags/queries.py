"""Tags: created on first use (safely under concurrency), linked to posts in bulk, counted per tag."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pypika_tortoise.queries import Table
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.functions import Count
from tortoise.queryset import CountQuery, QuerySet

from service.db.config import CONNECTION
from service.models import Post, Tag
from service.orm import compiled
from service.pages import Page, Paging, after, split

(_LINKS,) = [field for field in Post.describe(serializable=False)["m2m_fields"] if field["name"] == "tags"]
_THROUGH = Table(_LINKS["through"])  # the post_tags table and its key columns, as the many-to-many field declares them
_POST_KEY, _TAG_KEY = _LINKS["backward_key"], _LINKS["forward_key"]


def _database() -> BaseDBAsyncClient:
    """The models' connection now (inside ``in_transaction()``, that transaction's), as the models' queries use it."""
    return get_connection(CONNECTION)


async def ensure_tags(names: Iterable[str]) -> dict[str, int]:
    """The ids of the tags called ``names``, creating the missing ones; two statements whatever the count.

    ``INSERT ... ON CONFLICT DO NOTHING`` in sorted order: concurrent requests creating the same new tag wait
    for each other instead of failing, never deadlock, and leave exactly one row.
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}
    await Tag.bulk_create([Tag(name=name) for name in wanted], ignore_conflicts=True)
    rows = await Tag.filter(name__in=wanted).values("id", "name")
    return {row["name"]: row["id"] for row in rows}


async def link_tags(links: Sequence[tuple[int, int]]) -> int:
    """Insert ``(post_id, tag_id)`` links in one statement (the ORM's ``add`` costs two per post); return how many
    were new (links that exist already are left as they are)."""
    if not links:
        return 0
    db = _database()
    query = db.query_class.into(_THROUGH).columns(_POST_KEY, _TAG_KEY)
    for post_id, tag_id in links:
        query = query.insert(post_id, tag_id)
    # Counted from RETURNING rows: Tortoise's asyncpg client reads an insert's count from the second word of its
    # status, which is the oid (always 0), so execute_query always says 0 and adding a tag never moved updated_at;
    # upstream this is tortoise-orm issue 540.
    statement: Any = query.on_conflict().do_nothing()  # PostgreSQL's builder: the base one has no RETURNING
    statement = statement.returning(_TAG_KEY)
    return len(await db.execute_query_dict(*statement.get_parameterized_sql()))


async def add_tags(post_id: int, names: Sequence[str]) -> None:
    """Tag a post with ``names``, creating the tags that do not exist yet."""
    tag_ids = await ensure_tags(names)
    await link_tags([(post_id, tag_ids[name]) for name in names])


async def replace_tags(post_id: int, names: Sequence[str]) -> bool:
    """Make ``names`` the post's whole set of tags; return whether the set changed.

    The links to keep stay untouched: only the ones to drop are deleted and only the new ones inserted.
    """
    tag_ids = await ensure_tags(names)
    keep = sorted(set(tag_ids.values()))
    db = _database()
    post_links = _THROUGH[_POST_KEY] == post_id
    dropped = _THROUGH[_TAG_KEY].notin(keep) if keep else None
    unlink = db.query_class.from_(_THROUGH).where(post_links if dropped is None else post_links & dropped).delete()
    removed, _ = await db.execute_query(*unlink.get_parameterized_sql())
    added = await link_tags([(post_id, tag_id) for tag_id in keep])
    return bool(removed or added)


@compiled("limit", "offset", "after_name", "after_id")
def _tag_page(limit: int, offset: int, after_name: str | None = None, after_id: int | None = None) -> QuerySet[Tag]:
    tags = Tag.annotate(post_count=Count("posts")).order_by("name", "id").offset(offset).limit(limit)
    if after_id is not None:
        tags = tags.filter(after("name", after_name, after_id))
    return tags.only("id", "name")


@compiled()
def _count_tags() -> CountQuery:
    return Tag.all().count()


async def list_tags(paging: Paging) -> Page[Tag]:
    """A page of tags ordered by name, each with its number of posts (``post_count``), and the number of tags
    (not counted on a page asked for by cursor). Each page reads one row more than it shows."""
    if paging.start is not None:
        name = paging.start.value
        assert isinstance(name, str)
        tags, more = split(await _tag_page(paging.limit + 1, 0, name, paging.start.id), paging.limit)
        return paging.page(tags, None, more)
    offset = paging.offset or 0
    total = await _count_tags()
    if offset >= total:
        return paging.page([], total, False)
    tags, more = split(await _tag_page(paging.limit + 1, offset), paging.limit)
    return paging.page(tags, total, more)
