"""Users: reads as compiled Tortoise querysets (profile joined, recent posts prefetched), writes through the models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from litestar.exceptions import NotFoundException
from pydantic import BaseModel
from tortoise.expressions import F, Q, Subquery
from tortoise.query_utils import Prefetch
from tortoise.queryset import CountQuery, QuerySet, QuerySetSingle
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service import models
from service.conditional import NO_CONDITION, IfMatch, offer
from service.db import retry_on_conflict
from service.models import Post, Profile, Role, RowCount
from service.orm import TOTAL, compiled, from_orm, page_total, release
from service.pages import Page, Paging, SortValue, after, split, start_values
from service.posts.queries import create_first_posts, sort_terms
from service.security import hash_password
from service.users.schemas import (
    ProfileRead,
    ProfileWrite,
    PublicUserDetailRead,
    PublicUserRead,
    UserCreate,
    UserDetailRead,
    UserRead,
)
from service.versions import page_tag, user_detail_tag, user_numbers

S = TypeVar("S", bound=BaseModel)
RECENT_POSTS = 20
_COMPARABLE = ("name", "email", "role")  # the non-null columns an update may set to the value they already hold
USER_COLUMNS = ("id", "name", "email", "role", "created_at", "updated_at")
PUBLIC_USER_COLUMNS = tuple(column for column in USER_COLUMNS if column != "email")
PROFILE_COLUMNS = ("profile__id", "profile__bio", "profile__website", "profile__updated_at")
"""The profile a user detail shows, with its ``updated_at`` (not shown: the tag is computed from it)."""
_read_user = from_orm(UserRead)
_read_public_user = from_orm(PublicUserRead)
_read_user_detail = from_orm(UserDetailRead)
_read_public_user_detail = from_orm(PublicUserDetailRead)
"""What a user response shows: never the password hash or the token version; the email only to its owner and
admins (``private``)."""


@compiled("user_id")
def _user_detail(user_id: int, emails: bool = True) -> QuerySetSingle[models.User | None]:
    """The user (with the email if ``emails``), their profile (joined), their post count (a subquery) and recent
    posts (prefetched)."""
    # ``updated_at`` is not shown: the user's tag is computed from it (service.versions).
    recent = Post.all().order_by("-created_at", "-id").limit(RECENT_POSTS)
    recent = recent.only("id", "title", "author_id", "created_at", "updated_at")
    return (
        models.User.filter(id=user_id)
        .select_related("profile")
        # The profile's id tells "no profile" from a profile whose fields are all null.
        .only(*(USER_COLUMNS if emails else PUBLIC_USER_COLUMNS), *PROFILE_COLUMNS)
        .annotate(post_count=Subquery(Post.filter(author_id=user_id).count()))
        .prefetch_related(Prefetch("posts", queryset=recent))
        .first()
    )


def _matching(role: Role | None, q: str | None, emails: bool) -> QuerySet[models.User]:
    """Users with ``role`` whose name (or, when ``emails``, email) contains ``q``, case-insensitively."""
    users = models.User.all()
    if role is not None:
        users = users.filter(role=role)
    if q is not None:
        users = users.filter(Q(name__icontains=q) | Q(email__icontains=q) if emails else Q(name__icontains=q))
    return users


def _total(role: Role | None, q: str | None, emails: bool) -> Subquery:
    """How many users match, as a subquery: without a text filter, the trigger-kept counters (migration 3)."""
    if q is None:
        return Subquery(RowCount.filter(name="users" if role is None else f"users:{role.value}").values("n"))
    return Subquery(_matching(role, q, emails).count())


@compiled("limit", "offset", "q", "after_value", "after_id")
def _user_page(
    limit: int,
    offset: int | None,
    role: Role | None,
    q: str | None,
    order: str,
    emails: bool = False,
    after_value: SortValue | None = None,
    after_id: int | None = None,
) -> QuerySet[models.User]:
    """A page of users; the first (``offset`` and ``after_id`` None) carries how many match in all (``TOTAL``, a
    subquery), a page after a cursor's position (``after_value``, ``after_id``) is not counted."""
    columns = USER_COLUMNS if emails else PUBLIC_USER_COLUMNS
    users = _matching(role, q, emails).order_by(*sort_terms(order)).limit(limit).only(*columns)
    if after_id is not None:
        return users.filter(after(order, after_value, after_id))
    return users.annotate(**{TOTAL: _total(role, q, emails)}) if offset is None else users.offset(offset)


@compiled("q")
def _count_matching(role: Role | None, q: str | None, emails: bool = False) -> CountQuery:
    return _matching(role, q, emails).count()


@compiled("name")
def _counter(name: str) -> QuerySetSingle[RowCount | None]:
    # Kept exact by triggers (migration 3), per role and in all: counting the table would grow with it.
    return RowCount.filter(name=name).only("name", "n").first()


async def ensure_user_exists(user_id: int) -> None:
    """NotFoundException unless a user with ``user_id`` exists."""
    if not await models.User.exists(id=user_id):
        raise NotFoundException(f"User {user_id} not found")


async def _detail(user_id: int, schema: type[S], read: Callable[[models.User], S], emails: bool) -> S:
    """A user with profile, ``post_count`` and 20 most recent posts (no bodies), one statement, as ``read`` shows it
    (``schema``); its tag is offered before it is built (``NotModifiedError`` for a read that has it)."""
    user = await _user_detail(user_id, emails)
    if user is None:
        raise NotFoundException(f"User {user_id} not found")
    try:
        offer(user_detail_tag(schema, user))
        return read(user)
    finally:
        release([user], "posts")


async def current_own_tag(user_id: int) -> str | None:
    """The tag the user's own read (``UserDetailRead``) would carry now, None if there is no such user: what
    ``If-Match`` on their writes is compared with."""
    user = await _user_detail(user_id, True)
    if user is None:
        return None
    tag = user_detail_tag(UserDetailRead, user)
    release([user], "posts")
    return tag


async def fetch_user_detail(user_id: int, *, private: bool) -> UserDetailRead | PublicUserDetailRead:
    """The user as the caller may see them: with the email when ``private`` (the user themself or an admin)."""
    if private:
        return await fetch_own_user_detail(user_id)
    return await _detail(user_id, PublicUserDetailRead, _read_public_user_detail, emails=False)


async def fetch_own_user_detail(user_id: int) -> UserDetailRead:
    """The user as they themself (or an admin) see them: with the email."""
    return await _detail(user_id, UserDetailRead, _read_user_detail, emails=True)


async def count_users(role: Role | None = None, q: str | None = None, *, emails: bool = False) -> int:
    """How many users match; without a text filter, read off the trigger-kept counters."""
    if q is not None:
        return await _count_matching(role, q, emails)
    counter = await _counter("users" if role is None else f"users:{role.value}")
    return 0 if counter is None else counter.n


async def list_users(
    paging: Paging, *, role: Role | None = None, q: str | None = None, private: bool = False
) -> Page[UserRead | PublicUserRead]:
    """A page of users matching the filters, with how many match in all unless it is asked for by cursor. With
    ``private`` (an admin asks), the emails are shown and ``q`` matches them too; otherwise neither.

    The first page is one statement (its total a subquery of it), and so is a cursor page (no total); a later offset
    page counts first (two statements, one past the end). A first page knows from its total whether another
    follows; a cursor page or a later offset page reads one row more than it shows to know it.
    """
    q = (q.strip() or None) if q is not None else None
    limit, offset, order = paging.limit, paging.offset, paging.order
    total: int | None = None
    if paging.start is not None:
        users = await _user_page(limit + 1, None, role, q, order, private, **start_values(paging.start))
        shown, more = split(users, limit)
    elif not offset:
        users = await _user_page(limit, None, role, q, order, private)
        total = page_total(users)
        shown, more = list(users), total > len(users)
    else:
        total = await count_users(role, q, emails=private)
        users = await _user_page(limit + 1, offset, role, q, order, private) if offset < total else []
        shown, more = split(users, limit)
    read, schema = (_read_user, UserRead) if private else (_read_public_user, PublicUserRead)
    page: Page[Any] = paging.page(shown, total, more)
    offer(page_tag(schema, page, user_numbers(shown)))
    page.items = [read(user) for user in shown]
    return page


async def create_user(data: UserCreate, role: Role) -> int:
    """Insert a user with their profile, posts and tags in one transaction: all of it or none of it.

    A duplicate email raises IntegrityError (answered with 409) and rolls everything back. A fixed number of
    statements, whatever the number of posts and tags.
    """
    return await _insert_user(data, role, await hash_password(data.password))


@retry_on_conflict
async def _insert_user(data: UserCreate, role: Role, password_hash: str) -> int:
    fields: dict[str, Any] = {"name": data.name, "email": data.email, "password_hash": password_hash, "role": role}
    if data.profile is None and not data.posts:
        return int((await models.User.create(**fields)).id)  # one statement: no transaction to open
    async with in_transaction("default"):
        user = await models.User.create(**fields)
        if data.profile is not None:
            await Profile.create(user_id=user.id, **data.profile.model_dump())
        await create_first_posts(user.id, [(post.title, post.body, post.tags) for post in data.posts])
    return int(user.id)


async def _lock_user(user_id: int) -> None:
    """Lock the user's row for the transaction (writes to the user and their profile queue behind it); 404 if
    there is no such user."""
    if await models.User.filter(id=user_id).select_for_update().only("id").first() is None:
        raise NotFoundException(f"User {user_id} not found")


async def _current_profile(user_id: int) -> ProfileRead | None:
    profile = await Profile.filter(user_id=user_id).only("id", "bio", "website").first()
    return None if profile is None else ProfileRead(bio=profile.bio, website=profile.website)


@retry_on_conflict
async def put_profile(user_id: int, profile: ProfileWrite, if_match: IfMatch = NO_CONDITION) -> dict[str, Any]:
    """Create or replace a user's profile (one statement, safe when two requests race). With an ``If-Match``
    condition, the user is locked and the current profile checked first, in the same transaction."""
    if if_match.header is None:
        return await _upsert_profile(user_id, profile)
    async with in_transaction("default"):
        await _lock_user(user_id)
        if_match.check(await _current_profile(user_id))
        return await _upsert_profile(user_id, profile)


async def _upsert_profile(user_id: int, profile: ProfileWrite) -> dict[str, Any]:
    fields = profile.model_dump()
    stamp = now()
    await Profile.bulk_create(
        [Profile(user_id=user_id, created_at=stamp, updated_at=stamp, **fields)],
        on_conflict=["user_id"],
        update_fields=[*fields, "updated_at"],
    )
    return fields


async def update_user(user_id: int, changes: dict[str, Any], if_match: IfMatch = NO_CONDITION) -> None:
    """Apply ``changes``; a new password also invalidates every token issued before it. With an ``If-Match``
    condition, only to the version it names (PreconditionFailedError otherwise), checked under the row lock."""
    values = dict(changes)
    if "password" in values:
        values["password_hash"] = await hash_password(values.pop("password"))
        values["token_version"] = F("token_version") + 1
    await _update_user(user_id, values, if_match)


@retry_on_conflict
async def _update_user(user_id: int, values: dict[str, Any], if_match: IfMatch = NO_CONDITION) -> None:
    if if_match.header is None:
        await _apply_update(user_id, values)
        return
    async with in_transaction("default"):
        await _lock_user(user_id)
        await if_match.check_current(lambda: current_own_tag(user_id))
        await _apply_update(user_id, values)


async def _apply_update(user_id: int, values: dict[str, Any]) -> None:
    """One statement: the row is updated (and ``updated_at`` moved) only if a value differs from what is stored."""
    differs = Q(
        *(Q(**{f"{field}__not": value}) for field, value in values.items() if field in _COMPARABLE), join_type="OR"
    )
    if "password_hash" in values or not differs.children:
        target = models.User.filter(id=user_id)  # a new password is always a change (a fresh salt, a new version)
    else:
        target = models.User.filter(Q(id=user_id) & differs)
    if not await target.update(**values, updated_at=now()) and not await models.User.exists(id=user_id):
        raise NotFoundException(f"User {user_id} not found")


@retry_on_conflict
async def delete_user(user_id: int, if_match: IfMatch = NO_CONDITION) -> None:
    """Delete a user; the database cascades to their posts (and profile). With an ``If-Match`` condition, the user
    is locked, checked and deleted in one transaction."""
    if if_match.header is None:
        if not await models.User.filter(id=user_id).delete():
            raise NotFoundException(f"User {user_id} not found")
        return
    async with in_transaction("default"):
        await _lock_user(user_id)
        await if_match.check_current(lambda: current_own_tag(user_id))
        await models.User.filter(id=user_id).delete()
