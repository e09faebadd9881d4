"""Who is calling: the bearer token's user, loaded per request so revocation and role changes apply at once."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from tortoise.queryset import QuerySetSingle

from service.db.replicas import primary_reads
from service.models import Role, User
from service.orm import compiled
from service.schemas import INT64_MAX
from service.security import InvalidTokenError, read_token
from service.settings import Settings

BEARER_SCHEME = "BearerToken"
BEARER: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
"""``security=`` for handlers that need a token."""
BEARER_OPTIONAL: list[dict[str, list[str]]] = [{}, {BEARER_SCHEME: []}]
"""``security=`` for handlers where a token is optional but changes what is allowed."""
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_AUTHORIZATION = b"authorization"

CurrentUser = NamedDependency[User]
"""The caller, from the bearer token (401 without a valid one)."""
OptionalUser = NamedDependency[User | None]
"""The caller if a token was sent, otherwise None (401 if the token sent is not valid)."""
AppSettings = NamedDependency[Settings]


@compiled("user_id")
def _user_by_id(user_id: int) -> QuerySetSingle[User | None]:
    return User.filter(id=user_id).first()


def unauthorized(detail: str) -> NotAuthorizedException:
    """A 401 carrying the ``WWW-Authenticate: Bearer`` challenge."""
    return NotAuthorizedException(detail, headers=_CHALLENGE)


async def _user_from_header(header: str, settings: Settings) -> User:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("The Authorization header must be 'Bearer <token>'")
    try:
        claims = read_token(token.strip(), settings.jwt_secret)
    except InvalidTokenError:
        raise unauthorized("The token is invalid or has expired") from None
    if not 1 <= claims.user_id <= INT64_MAX:
        raise unauthorized("The token is invalid or has expired")
    with primary_reads():  # a token revoked a moment ago must not pass on a replica that lags behind
        user = await _user_by_id(claims.user_id)
    if user is None:
        raise unauthorized("The account for this token no longer exists")
    if user.token_version != claims.version:
        raise unauthorized("The token is no longer valid; sign in again")
    return user


def authorization(request: Request[Any, Any, Any]) -> str | None:
    """The request's first ``Authorization`` header, as ``request.headers.get("authorization")`` reads it, found
    in the raw headers: without building the parsed headers (most reads send no token)."""
    for name, value in request.scope["headers"]:
        if name.lower() == _AUTHORIZATION:
            return value.decode("latin-1")
    return None


async def provide_current_user(request: Request[Any, Any, Any], settings: AppSettings) -> User:
    """The caller; 401 without a valid token."""
    header = authorization(request)
    if not header:
        raise unauthorized("Authentication required: send 'Authorization: Bearer <token>'")
    return await _user_from_header(header, settings)


async def provide_optional_user(request: Request[Any, Any, Any], settings: AppSettings) -> User | None:
    """The caller if a token was sent (401 if it is not valid), otherwise None."""
    header = authorization(request)
    return None if not header else await _user_from_header(header, settings)


def is_admin(user: User | None) -> bool:
    """Whether ``user`` is an admin."""
    return user is not None and user.role == Role.ADMIN


def ensure_owner_or_admin(user: User, owner_id: int, action: str) -> None:
    """403 unless ``user`` is ``owner_id`` or an admin."""
    if user.id != owner_id and not is_admin(user):
        raise PermissionDeniedException(f"Only the owner or an admin may {action}")


def describe(request: Request[Any, Any, Any], thing: str) -> str:
    """``"<verb> <thing>"`` for a permission message: ``update this post``, ``delete this user``."""
    verb = {"PATCH": "update", "PUT": "change", "DELETE": "delete"}.get(request.method, "change")
    return f"{verb} {thing}"
