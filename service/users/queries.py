"""Users: reads as compiled Tortoise querysets (profile joined, recent posts prefetched), writes through the models."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotFoundException
from tortoise.expressions import F, Q, Subquery
from tortoise.query_utils import Prefetch
from tortoise.queryset import CountQuery, QuerySet, QuerySetSingle
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service import models
from service.db import retry_on_conflict
from service.models import Post, Profile, Role, RowCount
from service.orm import TOTAL, compiled, from_orm, page_total, release
from service.posts.queries import create_first_posts, sort_terms
from service.security import hash_password
from service.users.schemas import ProfileWrite, UserCreate, UserDetailRead, UserRead

RECENT_POSTS = 20
_COMPARABLE = ("name", "email", "role")  # the non-null columns an update may set to the value they already hold
USER_COLUMNS = ("id", "name", "email", "role", "created_at", "updated_at")
_read_user = from_orm(UserRead)
_read_user_detail = from_orm(UserDetailRead)
"""What a user response shows: never the password hash or the token version."""


@compiled("user_id")
def _user_detail(user_id: int) -> QuerySetSingle[models.User | None]:
    """The user, their profile (joined), their post count (a subquery) and recent posts (prefetched)."""
    recent = (
        Post.all().order_by("-created_at", "-id").limit(RECENT_POSTS).only("id", "title", "author_id", "created_at")
    )
    return (
        models.User.filter(id=user_id)
        .select_related("profile")
        # The profile's id tells "no profile" from a profile whose fields are all null.
        .only(*USER_COLUMNS, "profile__id", "profile__bio", "profile__website")
        .annotate(post_count=Subquery(Post.filter(author_id=user_id).count()))
        .prefetch_related(Prefetch("posts", queryset=recent))
        .first()
    )


def _matching(role: Role | None, q: str | None) -> QuerySet[models.User]:
    users = models.User.all()
    if role is not None:
        users = users.filter(role=role)
    if q is not None:
        users = users.filter(Q(name__icontains=q) | Q(email__icontains=q))
    return users


def _total(role: Role | None, q: str | None) -> Subquery:
    """How many users match, as a subquery: without a text filter, the trigger-kept counters (migration 3)."""
    if q is None:
        return Subquery(RowCount.filter(name="users" if role is None else f"users:{role.value}").values("n"))
    return Subquery(_matching(role, q).count())


@compiled("limit", "offset", "q")
def _user_page(limit: int, offset: int | None, role: Role | None, q: str | None, order: str) -> QuerySet[models.User]:
    """A page of users; the first (``offset`` None) carries how many match in all (``TOTAL``, a subquery)."""
    users = _matching(role, q).order_by(*sort_terms(order)).limit(limit).only(*USER_COLUMNS)
    return users.annotate(**{TOTAL: _total(role, q)}) if offset is None else users.offset(offset)


@compiled("q")
def _count_matching(role: Role | None, q: str | None) -> CountQuery:
    return _matching(role, q).count()


@compiled("name")
def _counter(name: str) -> QuerySetSingle[RowCount | None]:
    # Kept exact by triggers (migration 3), per role and in all: counting the table would grow with it.
    return RowCount.filter(name=name).only("name", "n").first()


async def ensure_user_exists(user_id: int) -> None:
    """NotFoundException unless a user with ``user_id`` exists."""
    if not await models.User.exists(id=user_id):
        raise NotFoundException(f"User {user_id} not found")


async def fetch_user_detail(user_id: int) -> UserDetailRead:
    """A user with profile, ``post_count`` and 20 most recent posts (no bodies): one statement."""
    user = await _user_detail(user_id)
    if user is None:
        raise NotFoundException(f"User {user_id} not found")
    read = _read_user_detail(user)
    release([user], "posts")
    return read


async def count_users(role: Role | None = None, q: str | None = None) -> int:
    """How many users match; without a text filter, read off the trigger-kept counters."""
    if q is not None:
        return await _count_matching(role, q)
    counter = await _counter("users" if role is None else f"users:{role.value}")
    return 0 if counter is None else counter.n


async def list_users(
    limit: int, offset: int, *, role: Role | None = None, q: str | None = None, order: str = "-created_at"
) -> tuple[list[UserRead], int]:
    """A page of users matching the filters, and how many match in all.

    The first page is one statement (its total a subquery of it); a later page counts first (two statements, one
    past the end).
    """
    q = (q.strip() or None) if q is not None else None
    if offset == 0:
        users = await _user_page(limit, None, role, q, order)
        total = page_total(users)
    else:
        total = await count_users(role, q)
        users = await _user_page(limit, offset, role, q, order) if offset < total else []
    return [_read_user(user) for user in users], total


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


@retry_on_conflict
async def put_profile(user_id: int, profile: ProfileWrite) -> dict[str, Any]:
    """Create or replace a user's profile (one statement, safe when two requests race)."""
    fields = profile.model_dump()
    stamp = now()
    await Profile.bulk_create(
        [Profile(user_id=user_id, created_at=stamp, updated_at=stamp, **fields)],
        on_conflict=["user_id"],
        update_fields=[*fields, "updated_at"],
    )
    return fields


async def update_user(user_id: int, changes: dict[str, Any]) -> None:
    """Apply ``changes``; a new password also invalidates every token issued before it."""
    values = dict(changes)
    if "password" in values:
        values["password_hash"] = await hash_password(values.pop("password"))
        values["token_version"] = F("token_version") + 1
    await _update_user(user_id, values)


@retry_on_conflict
async def _update_user(user_id: int, values: dict[str, Any]) -> None:
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
async def delete_user(user_id: int) -> None:
    """Delete a user; the database cascades to their posts (and profile)."""
    if not await models.User.filter(id=user_id).delete():
        raise NotFoundException(f"User {user_id} not found")
