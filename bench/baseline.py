"""The raw baseline: the benchmarked endpoints as a minimal Litestar app with hand-written SQL on asyncpg.

It answers the same requests as the service with the same JSON (same fields, same order, same timestamp format)
and the same status codes, the way a competent engineer would write them without an ORM:

- one statement (one round trip) per request: related rows come back in the same statement as arrays
  (``ARRAY(SELECT ROW(...))``), and a page's ``total`` comes from the schema's trigger-kept counters joined to
  the page with ``LEFT JOIN LATERAL`` (the page can be empty, the total is still there; an offset past the
  total skips the page query);
- the same tables, indexes and counters as the service (they come from the same migrations), one prepared
  statement per query text
  (asyncpg caches them per connection);
- an asyncpg pool of the service's size (``DB_POOL_MIN``/``DB_POOL_MAX``, defaults 1/10) that, like the
  service's, does not send a reset query when a connection goes back to the pool;
- sign-up hashes with argon2-cffi's default ``PasswordHasher`` in a thread, exactly like ``service/security.py``,
  and normalises the email with ``email_validator`` exactly like ``service/users/schemas.py``.

Served like the service (``service/__main__.py``): uvicorn with uvloop, httptools, no access log.
Run from the project root: ``DATABASE_URL=postgres://... PORT=8001 python -m bench.baseline``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import msgspec
from argon2 import PasswordHasher
from email_validator import EmailNotValidError, validate_email
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException, ValidationException
from litestar.params import Parameter

INT64 = {"ge": -(2**63), "le": 2**63 - 1}
RECENT_POSTS = 20
CONFLICT = "A user with this email already exists"

# SQL statements each endpoint sends (read off the handlers below: each calls the pool exactly once).
STATEMENTS = {
    "GET /users/{id}": 1,
    "GET /users?role=member": 1,
    "GET /posts?limit=20": 1,
    "GET /posts/{id}": 1,
    "POST /users": 1,
}

USER_DETAIL = f"""
SELECT u.id, u.name, u.role, u.created_at, u.updated_at,
       pr.id AS profile_id, pr.bio, pr.website,
       (SELECT count(*) FROM posts c WHERE c.author_id = u.id) AS post_count,
       ARRAY(SELECT ROW(p.id, p.title, p.created_at)
             FROM posts p WHERE p.author_id = u.id
             ORDER BY p.created_at DESC, p.id DESC LIMIT {RECENT_POSTS}) AS posts
FROM users u LEFT JOIN profiles pr ON pr.user_id = u.id
WHERE u.id = $1
"""

# Unfiltered totals come from the counters the schema keeps (migration 3's row_counts), as in the service: the
# baseline has the same database, so it gets the same schema; what differs is only the code path.
_USER_PAGE = """
SELECT t.total, u.id, u.name, u.role, u.created_at, u.updated_at
FROM (SELECT coalesce((SELECT n FROM row_counts WHERE name = {counter}), 0) AS total) t
LEFT JOIN LATERAL (SELECT * FROM (
    SELECT id, name, role, created_at, updated_at FROM users {where}
    ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2
) page WHERE $2 < t.total) u ON true
"""
USER_PAGE = _USER_PAGE.format(where="", counter="'users'")
USER_PAGE_BY_ROLE = _USER_PAGE.format(where="WHERE role = $3", counter="'users:' || $3")

# A post's tag names sorted by code point (as the service sorts them in Python), whatever the database collation.
_TAGS = """ARRAY(SELECT tg.name FROM post_tags pt JOIN tags tg ON tg.id = pt.tag_id
                 WHERE pt.post_id = p.id ORDER BY tg.name COLLATE "C") AS tags"""

POST_PAGE = f"""
SELECT t.total, p.*
FROM (SELECT coalesce((SELECT n FROM row_counts WHERE name = 'posts'), 0) AS total) t
LEFT JOIN LATERAL (SELECT * FROM (
    SELECT p.id, p.title, p.body, p.author_id, p.created_at, p.updated_at, a.name AS author_name, {_TAGS}
    FROM posts p JOIN users a ON a.id = p.author_id
    ORDER BY p.created_at DESC, p.id DESC LIMIT $1 OFFSET $2
) page WHERE $2 < t.total) p ON true
"""

POST_DETAIL = f"""
SELECT p.id, p.title, p.body, p.author_id, p.created_at, p.updated_at, a.name AS author_name, {_TAGS}
FROM posts p JOIN users a ON a.id = p.author_id
WHERE p.id = $1
"""

INSERT_USER = """
INSERT INTO users (name, email, password_hash, role, token_version, created_at, updated_at)
VALUES ($1, $2, $3, 'member', 0, now(), now())
RETURNING id, name, email, role, created_at, updated_at
"""

hasher = PasswordHasher()  # Argon2id with the RFC 9106 low-memory parameters, as service/security.py


def _user(row: Any) -> dict[str, Any]:
    """A user as anonymous callers see them (no email), as the service shows it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "role": row["role"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _post(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "author_id": row["author_id"],
        "author": {"id": row["author_id"], "name": row["author_name"]},
        "tags": row["tags"],
    }


def _pool(state: State) -> asyncpg.Pool:
    return state["pool"]


@get("/health")
async def health(state: State) -> dict[str, str]:
    await _pool(state).fetchval("SELECT 1")
    return {"status": "ok", "database": "ok"}


@get("/users/{user_id:int}")
async def get_user(state: State, user_id: Annotated[int, Parameter(**INT64)]) -> dict[str, Any]:
    row = await _pool(state).fetchrow(USER_DETAIL, user_id)
    if row is None:
        raise NotFoundException(f"User {user_id} not found")
    detail = _user(row)
    detail["profile"] = None if row["profile_id"] is None else {"bio": row["bio"], "website": row["website"]}
    detail["post_count"] = row["post_count"]
    detail["posts"] = [
        {"id": post_id, "title": title, "created_at": created_at, "author_id": user_id}
        for post_id, title, created_at in row["posts"]
    ]
    return detail


@get("/users")
async def list_users(
    state: State,
    role: Annotated[str | None, Parameter(pattern="^(admin|member)$")] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    offset: Annotated[int, Parameter(ge=0, le=2**63 - 1)] = 0,
) -> dict[str, Any]:
    pool = _pool(state)
    if role is None:
        rows = await pool.fetch(USER_PAGE, limit, offset)
    else:
        rows = await pool.fetch(USER_PAGE_BY_ROLE, limit, offset, role)
    items = [_user(row) for row in rows if row["id"] is not None]
    return {"items": items, "limit": limit, "offset": offset, "total": rows[0]["total"]}


@get("/posts")
async def list_posts(
    state: State,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    offset: Annotated[int, Parameter(ge=0, le=2**63 - 1)] = 0,
) -> dict[str, Any]:
    rows = await _pool(state).fetch(POST_PAGE, limit, offset)
    items = [_post(row) for row in rows if row["id"] is not None]
    return {"items": items, "limit": limit, "offset": offset, "total": rows[0]["total"]}


@get("/posts/{post_id:int}")
async def get_post(state: State, post_id: Annotated[int, Parameter(**INT64)]) -> dict[str, Any]:
    row = await _pool(state).fetchrow(POST_DETAIL, post_id)
    if row is None:
        raise NotFoundException(f"Post {post_id} not found")
    return _post(row)


class SignUp(msgspec.Struct):
    name: str
    email: str
    password: str
    role: str | None = None


def _invalid(key: str, message: str) -> ValidationException:
    return ValidationException("Validation failed for POST /users", extra=[{"key": key, "message": message}])


@post("/users")
async def sign_up(state: State, data: SignUp) -> dict[str, Any]:
    name = data.name.strip()
    if not 1 <= len(name) <= 100:
        raise _invalid("name", "must be 1 to 100 characters long")
    try:
        email = validate_email(data.email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise _invalid("email", f"not a valid email address: {exc}") from None
    if len(email) > 254:
        raise _invalid("email", "must be at most 254 characters long")
    if not 8 <= len(data.password.strip()) <= 128:
        raise _invalid("password", "must be 8 to 128 characters long")
    if data.role not in (None, "member"):
        raise PermissionDeniedException("Only an admin may create a user with a role other than member")
    password_hash = await asyncio.to_thread(hasher.hash, data.password)
    try:
        row = await _pool(state).fetchrow(INSERT_USER, name, email, password_hash)
    except asyncpg.UniqueViolationError:
        raise HTTPException(status_code=409, detail=CONFLICT) from None
    own = {"id": row["id"], "name": row["name"], "email": row["email"]}  # the new user's own view: with the email
    return {**own, **_user(row), "profile": None, "post_count": 0, "posts": []}


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing to undo on release: no session state is ever set (the service skips the reset query too)."""


@asynccontextmanager
async def pool_lifespan(app: Litestar) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=int(os.environ.get("DB_POOL_MIN", "1")),
        max_size=int(os.environ.get("DB_POOL_MAX", "10")),
        command_timeout=float(os.environ.get("DB_COMMAND_TIMEOUT", "15")),
        reset=_no_reset,
    )
    app.state["pool"] = pool
    try:
        yield
    finally:
        await pool.close()


def create_app() -> Litestar:
    return Litestar(
        route_handlers=[health, get_user, list_users, list_posts, get_post, sign_up],
        lifespan=[pool_lifespan],
        openapi_config=None,
        debug=False,
    )


def main() -> None:
    import uvicorn

    uvicorn.run(
        "bench.baseline:create_app",
        factory=True,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8001")),
        workers=int(os.environ.get("WORKERS", "1")),
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # ``python bench/baseline.py`` works too
    main()
