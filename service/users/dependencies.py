"""Who may change an account: checked before the handler runs (404 before 403)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from service.auth.dependencies import CurrentUser, describe, ensure_owner_or_admin, is_admin
from service.params import UserId
from service.users import queries


async def provide_own_account(request: Request[Any, Any, Any], user_id: UserId, current_user: CurrentUser) -> int:
    """The id of an account the caller may change: their own, or any for an admin. PermissionDeniedException for
    someone else's, NotFoundException when there is no such user (users acting on themselves and admins need no
    lookup: the write itself finds a missing user)."""
    if current_user.id != user_id and not is_admin(current_user):
        await queries.ensure_user_exists(user_id)
    ensure_owner_or_admin(
        current_user, user_id, describe(request, "this profile" if request.method == "PUT" else "this user")
    )
    return user_id


OwnAccount = NamedDependency[int]
"""``own_account``: the path's user id, once the caller is known to be allowed to change that account."""
DEPENDENCIES = {"own_account": Provide(provide_own_account)}
