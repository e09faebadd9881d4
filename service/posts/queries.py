"""Posts: reads as compiled Tortoise querysets (the author joined, tags prefetched), writes in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar.exceptions import NotFoundException
from tortoise.contrib.postgres.search import SearchQuery, SearchRank
from tortoise.expressions import F, Subquery
from tortoise.query_utils import Prefetch
from tortoise.queryset import CountQuery, ExistsQuery, QuerySet, QuerySetSingle
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service.conditional import NO_CONDITION, IfMatch, offer
from service.db import retry_on_conflict
from service.models import Post, RowCount, Tag, User
from service.orm import TOTAL, compiled, from_orm, page_total, release
from service.pages import Page, Paging, SortValue, after, split, start_values
from service.posts import schemas
from service.schemas import trim
from service.tags.queries import add_tags, ensure_tags, link_tags, replace_tags
from service.tags.schemas import lower_case_tag
from service.versions import page_tag, post_numbers, post_tag

POST_COLUMNS = (
    *("id", "title", "body", "author_id", "created_at", "updated_at"),
    *("author__id", "author__name", "author__updated_at"),
)
"""What a post response shows: the post's columns and its author's id and name (never the author's hash), and the
author's ``updated_at``, which its tag is computed from (``service.versions``)."""
_read_post = from_orm(schemas.PostRead)


def sort_terms(order: str) -> tuple[str, ...]:
    """``order_by`` terms for a sort key such as ``-created_at``: ties broken by id, in the same direction."""
    column = order.removeprefix("-")
    if column == "id":
        return (order,)
    return (order, "-id" if order.startswith("-") else "id")


def _with_author_and_tags(posts: QuerySet[Post]) -> QuerySet[Post]:
    """Posts with their authors (joined) and tag names (prefetched: in the same statement where the compiled
    layer inlines it, else one more)."""
    return (
        posts.select_related("author")
        .only(*POST_COLUMNS)
        .prefetch_related(Prefetch("tags", queryset=Tag.all().only("id", "name")))
    )


@compiled("post_id")
def _post_by_id(post_id: int) -> QuerySetSingle[Post | None]:
    return _with_author_and_tags(Post.filter(id=post_id)).first()


def _words(search: str, language: str) -> SearchQuery:
    """The words of a full-text search as a query in ``language`` (stemmed, stop words dropped; every word must
    match), compared with the trigger-kept ``search_vector`` (migration 5) through its GIN index."""
    return SearchQuery(search, config=language)


def _matching(
    author_id: int | None, tag: str | None, q: str | None, search: str | None = None, language: str = "english"
) -> QuerySet[Post]:
    posts = Post.all()
    if search is not None:
        posts = posts.filter(search_vector__search=_words(search, language))
    if author_id is not None:
        posts = posts.filter(author_id=author_id)
    if tag is not None:
        posts = posts.filter(tags__name=tag)
    if q is not None:
        posts = posts.filter(title__icontains=q)
    return posts


def _total(author_id: int | None, tag: str | None, q: str | None, search: str | None, language: str) -> Subquery:
    """How many posts match, as a subquery: the trigger-kept counter (migration 3) when nothing filters them."""
    if author_id is None and tag is None and q is None and search is None:
        return Subquery(RowCount.filter(name="posts").values("n"))
    return Subquery(_matching(author_id, tag, q, search, language).count())


@compiled("limit", "offset", "author_id", "tag", "q", "after_value", "after_id", "search")
def _post_page(
    limit: int,
    offset: int | None,
    author_id: int | None,
    tag: str | None,
    q: str | None,
    order: str,
    after_value: SortValue | None = None,
    after_id: int | None = None,
    search: str | None = None,
    language: str = "english",
) -> QuerySet[Post]:
    """A page of posts. The first (``offset`` and ``after_id`` None) carries how many match in all (``TOTAL``, a
    subquery) and, having no offset, its tags inline; a page after a cursor's position (``after_value``,
    ``after_id``) inlines its tags too but is not counted; a later offset page skips ``offset`` rows and prefetches
    its tags in a statement of its own (an inlined subquery would also run for every skipped row). With ``search``,
    each post carries its relevance (``rank``), which ``order`` ``-rank`` sorts by."""
    posts = _matching(author_id, tag, q, search, language)
    if search is not None:
        posts = posts.annotate(rank=SearchRank(F("search_vector"), _words(search, language)))
    posts = posts.order_by(*sort_terms(order)).limit(limit)
    if after_id is not None:
        posts = posts.filter(after(order, after_value, after_id))
    elif offset is None:
        posts = posts.annotate(**{TOTAL: _total(author_id, tag, q, search, language)})
    if offset is not None:
        posts = posts.offset(offset)
    return _with_author_and_tags(posts)


@compiled("author_id", "tag", "q", "search")
def _count_matching(
    author_id: int | None, tag: str | None, q: str | None, search: str | None = None, language: str = "english"
) -> CountQuery:
    return _matching(author_id, tag, q, search, language).count()


@compiled()
def _count_all() -> QuerySetSingle[RowCount | None]:
    # Kept exact by triggers (migration 3): counting every post would grow with the table.
    return RowCount.filter(name="posts").only("name", "n").first()


@compiled("user_id")
def _user_exists(user_id: int) -> ExistsQuery:
    return User.filter(id=user_id).exists()


async def fetch_post(post_id: int) -> schemas.PostRead:
    """One post with its author and tags (one statement); NotFoundException if there is none. Its tag is offered
    before it is built (``NotModifiedError`` for a read that has it)."""
    post = await _post_by_id(post_id)
    if post is None:
        raise NotFoundException(f"Post {post_id} not found")
    try:
        offer(post_tag(schemas.PostRead, post))
        return _read_post(post)
    finally:
        release([post], "tags")


async def current_post_tag(post_id: int) -> str | None:
    """The tag a read of the post would carry now (None when there is no such post), for ``If-Match``."""
    post = await _post_by_id(post_id)
    if post is None:
        return None
    tag = post_tag(schemas.PostRead, post)
    release([post], "tags")
    return tag


async def fetch_post_author(post_id: int) -> int:
    """The author id of a post, for permission checks; NotFoundException if there is none."""
    rows = await Post.filter(id=post_id).values("author_id")
    if not rows:
        raise NotFoundException(f"Post {post_id} not found")
    return int(rows[0]["author_id"])


async def count_posts(
    author_id: int | None = None,
    tag: str | None = None,
    q: str | None = None,
    search: str | None = None,
    language: str = "english",
) -> int:
    """How many posts match the filters; without filters, read off the trigger-kept counter."""
    if author_id is None and tag is None and q is None and search is None:
        counter = await _count_all()
        return 0 if counter is None else counter.n
    return await _count_matching(author_id, tag, q, search, language)


async def list_posts(
    paging: Paging,
    *,
    author_id: int | None = None,
    tag: str | None = None,
    q: str | None = None,
    search: str | None = None,
    language: str = "english",
    author_must_exist: bool = False,
) -> Page[schemas.PostRead]:
    """A page of posts (with authors and tags) matching the filters, with how many match in all unless it is
    asked for by cursor.

    The first page is one statement (its total and tags subqueries of it), and so is a cursor page (no total). A
    later offset page counts first, then reads the page and its tags (three statements; one past the end, which
    costs no walk through the skipped rows). A first page knows from its total, read in the same statement, whether
    another follows; a cursor page or a later offset page reads one row more than it shows to know it. ``search``
    is a full-text search in ``language``. With ``author_must_exist`` (and ``author_id``), NotFoundException when
    there is no such user.
    """
    tag = lower_case_tag(trim(tag)) if tag is not None else None
    q = (q.strip() or None) if q is not None else None
    text: dict[str, Any] = {"search": search, "language": language}
    limit, offset, order = paging.limit, paging.offset, paging.order
    total: int | None = None
    if paging.start is not None:
        posts = await _post_page(limit + 1, None, author_id, tag, q, order, **start_values(paging.start), **text)
        shown, more = split(posts, limit)
    elif not offset:
        posts = await _post_page(limit, None, author_id, tag, q, order, **text)
        total = page_total(posts)
        shown, more = list(posts), total > len(posts)
    else:
        total = await count_posts(author_id, tag, q, search, language)
        posts = await _post_page(limit + 1, offset, author_id, tag, q, order, **text) if offset < total else []
        shown, more = split(posts, limit)
    if not total and not posts and author_must_exist and author_id is not None and not await _user_exists(author_id):
        raise NotFoundException(f"User {author_id} not found")
    try:
        page: Page[Any] = paging.page(shown, total, more)
        offer(page_tag(schemas.PostRead, page, post_numbers(shown)))
        page.items = [_read_post(post) for post in shown]
        return page
    finally:
        release(posts, "tags")


async def create_first_posts(author_id: int, posts: Sequence[tuple[str, str | None, Sequence[str]]]) -> list[int]:
    """Insert the first ``(title, body, tag names)`` posts of an author created in the same transaction (sign-up),
    with their tags; return their ids in order. A fixed number of statements for any number of posts and tags.

    Only for a new author: the ids are read back as the author's newest posts, which for anyone else could include
    posts written concurrently.
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
    async with in_transaction("default"):
        post = await Post.create(author_id=author_id, title=title, body=body)
        await add_tags(post.id, tags)
    return int(post.id)


@retry_on_conflict
async def update_post(post_id: int, changes: dict[str, Any], if_match: IfMatch = NO_CONDITION) -> None:
    """Apply ``changes`` (``tags`` replaces the set) to a post locked for the transaction; ``updated_at`` moves
    only when a stored value changes. NotFoundException if the post is gone; PreconditionFailedError if
    ``if_match`` does not name the post as it is under the lock.
    """
    changes = dict(changes)  # a retried transaction starts from the same changes
    async with in_transaction("default"):
        post = await Post.filter(id=post_id).select_for_update().only("id", "title", "body").first()
        if post is None:
            raise NotFoundException(f"Post {post_id} not found")
        await if_match.check_current(lambda: current_post_tag(post_id))
        tags = changes.pop("tags", None)
        retagged = tags is not None and await replace_tags(post_id, tags)
        changed = {field: value for field, value in changes.items() if getattr(post, field) != value}
        if changed or retagged:  # updated_at moves only when something stored changes
            await Post.filter(id=post_id).update(**changed, updated_at=now())


@retry_on_conflict
async def delete_post(post_id: int, if_match: IfMatch = NO_CONDITION) -> None:
    """Delete a post (its tag links go with it, the tags stay); NotFoundException if there is none.

    With an ``If-Match`` condition, the post is locked, checked and deleted in one transaction.
    """
    if if_match.header is None:
        if not await Post.filter(id=post_id).delete():
            raise NotFoundException(f"Post {post_id} not found")
        return
    async with in_transaction("default"):
        if not await Post.filter(id=post_id).select_for_update().exists():
            raise NotFoundException(f"Post {post_id} not found")
        await if_match.check_current(lambda: current_post_tag(post_id))
        await Post.filter(id=post_id).delete()
