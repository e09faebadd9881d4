"""Users: reads in one statement each (service/sql.py), writes through the models."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from litestar.exceptions import NotFoundException
from tortoise.expressions import F
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service import models, sql
from service.db import retry_on_conflict
from service.models import Profile, Role
from service.posts.queries import create_posts
from service.security import hash_password
from service.users.schemas import ProfileIn, User, UserCreate, UserDetail

RECENT_POSTS = 20
_USER_COLUMNS = "u.id, u.name, u.email, u.role, u.created_at, u.updated_at"
_USER_DETAIL = f"""
SELECT {_USER_COLUMNS}, pr.id AS profile_id, pr.bio, pr.website,
       (SELECT count(*) FROM posts c WHERE c.author_id = u.id) AS post_count,
       ARRAY(SELECT ROW(p.id, p.title, p.created_at) FROM posts p WHERE p.author_id = u.id
             ORDER BY p.created_at DESC, p.id DESC LIMIT {RECENT_POSTS}) AS posts
FROM users u LEFT JOIN profiles pr ON pr.user_id = u.id
WHERE u.id = $1
"""


def _user(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "role": row["role"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def ensure_user_exists(user_id: int) -> None:
    """NotFoundException unless a user with ``user_id`` exists."""
    if not await models.User.exists(id=user_id):
        raise NotFoundException(f"User {user_id} not found")


async def fetch_user_detail(user_id: int) -> UserDetail:
    """A user with profile, ``post_count`` and 20 most recent posts (no bodies): one statement."""
    rows = await sql.fetch(_USER_DETAIL, user_id)
    if not rows:
        raise NotFoundException(f"User {user_id} not found")
    row = rows[0]
    detail = _user(row)
    detail["profile"] = None if row["profile_id"] is None else {"bio": row["bio"], "website": row["website"]}
    detail["post_count"] = row["post_count"]
    detail["posts"] = [
        {"id": post_id, "title": title, "created_at": created_at, "author_id": user_id}
        for post_id, title, created_at in row["posts"]
    ]
    return sql.shaped_one(UserDetail, detail)


@cache
def _page_sql(by_role: bool, by_text: bool, order: str) -> str:
    """The statement for one combination of filters (there are few: each is built once)."""
    conditions = ["u.role = $3"] if by_role else []
    if by_text:
        pattern = f"${3 + by_role}"
        conditions.append(f"(u.name ILIKE {pattern} ESCAPE '\\' OR u.email ILIKE {pattern} ESCAPE '\\')")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    # Without a text filter, the total is kept by triggers (migration 3): per role, or of all users.
    counted = sql.counted("users", by_role=by_role)
    return sql.paged(
        f"SELECT count(*) AS total FROM users u{where}" if by_text else counted,
        f"SELECT {_USER_COLUMNS} FROM users u{where} ORDER BY {sql.order_by('u', order, ('created_at', 'name', 'id'))}",
    )


async def list_users(
    limit: int, offset: int, *, role: Role | None = None, q: str | None = None, order: str = "-created_at"
) -> tuple[list[User], int]:
    """A page of users matching the filters, and how many match in all: one statement."""
    q = q.strip() if q else None
    args: list[Any] = [limit, offset]
    args += [value for value in (role.value if role else None, sql.like_pattern(q) if q else None) if value]
    rows = await sql.fetch(_page_sql(role is not None, bool(q), order), *args)
    return sql.shaped(User, [_user(row) for row in rows if row["id"] is not None]), rows[0]["total"]


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
    async with in_transaction():
        user = await models.User.create(**fields)
        if data.profile is not None:
            await Profile.create(user_id=user.id, **data.profile.model_dump())
        await create_posts(user.id, [(post.title, post.body, post.tags) for post in data.posts])
    return int(user.id)


@retry_on_conflict
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
    await _update_user(user_id, values)


@retry_on_conflict
async def _update_user(user_id: int, values: dict[str, Any]) -> None:
    if not await models.User.filter(id=user_id).update(**values, updated_at=now()):
        raise NotFoundException(f"User {user_id} not found")


@retry_on_conflict
async def delete_user(user_id: int) -> None:
    """Delete a user; the database cascades to their posts (and profile)."""
    if not await models.User.filter(id=user_id).delete():
        raise NotFoundException(f"User {user_id} not found")
