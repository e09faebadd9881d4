"""Reading and writing users: one statement per lookup, a fixed number per page or detail."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotFoundException
from tortoise.expressions import F, Q
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service.models import Post, Profile, Role, User
from service.params import PageRequest
from service.posts.queries import create_posts
from service.security import hash_password
from service.users.schemas import ProfileIn, UserCreate

USER_ORDERINGS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "id": ("id",),
    "-id": ("-id",),
}
USER_COLUMNS = ("id", "name", "email", "role", "created_at", "updated_at")
RECENT_POSTS = 20


async def ensure_user_exists(user_id: int) -> None:
    """NotFoundException unless a user with ``user_id`` exists."""
    if not await User.exists(id=user_id):
        raise NotFoundException(f"User {user_id} not found")


async def fetch_user_detail(user_id: int) -> dict[str, Any]:
    """A user with profile, ``post_count`` and most recent posts (no bodies): three statements at most."""
    rows = await User.filter(id=user_id).values(
        *USER_COLUMNS, profile_id="profile__id", bio="profile__bio", website="profile__website"
    )
    if not rows:
        raise NotFoundException(f"User {user_id} not found")
    posts = Post.filter(author_id=user_id)
    detail = rows[0]
    profile = {"bio": detail.pop("bio"), "website": detail.pop("website")}
    detail["profile"] = profile if detail.pop("profile_id") is not None else None
    detail["post_count"] = await posts.count()
    detail["posts"] = (
        await posts.order_by("-created_at", "-id").limit(RECENT_POSTS).values("id", "title", "author_id", "created_at")
        if detail["post_count"]
        else []
    )
    return detail


async def list_users(
    page: PageRequest, *, role: Role | None = None, q: str | None = None, order: str = "-created_at"
) -> tuple[list[dict[str, Any]], int]:
    """A page of users matching the filters, and how many match in all."""
    query = User.all()
    if role is not None:
        query = query.filter(role=role)
    if q and (q := q.strip()):
        query = query.filter(Q(name__icontains=q) | Q(email__icontains=q))
    total = await query.count()
    if page.offset >= total:
        return [], total
    rows = await query.order_by(*USER_ORDERINGS[order]).offset(page.offset).limit(page.limit).values(*USER_COLUMNS)
    return list(rows), total


async def create_user(data: UserCreate, role: Role) -> int:
    """Insert a user with their profile, posts and tags in one transaction: all of it or none of it.

    A duplicate email raises IntegrityError (answered with 409) and rolls everything back. A fixed number of
    statements, whatever the number of posts and tags.
    """
    password_hash = await hash_password(data.password)
    async with in_transaction():
        user = await User.create(name=data.name, email=data.email, password_hash=password_hash, role=role)
        if data.profile is not None:
            await Profile.create(user_id=user.id, **data.profile.model_dump())
        await create_posts(user.id, [(post.title, post.body, post.tags) for post in data.posts])
    return int(user.id)


async def put_profile(user_id: int, profile: ProfileIn) -> dict[str, Any]:
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
    if not await User.filter(id=user_id).update(**values, updated_at=now()):
        raise NotFoundException(f"User {user_id} not found")


async def delete_user(user_id: int) -> None:
    """Delete a user; the database cascades to their posts (and profile)."""
    if not await User.filter(id=user_id).delete():
        raise NotFoundException(f"User {user_id} not found")
