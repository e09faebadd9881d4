"""Who may change a post: loaded and checked before the handler runs (404 before 403)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from service.auth.dependencies import CurrentUser, describe, ensure_owner_or_admin
from service.params import PostId
from service.posts import queries


async def provide_editable_post(request: Request[Any, Any, Any], post_id: PostId, current_user: CurrentUser) -> int:
    """The id of a post the caller may change: its author or an admin. NotFoundException when there is no such
    post, PermissionDeniedException for someone else's. Authorship never changes, so the check holds for the whole
    request; a post deleted meanwhile is the write's own 404."""
    ensure_owner_or_admin(current_user, await queries.fetch_post_author(post_id), describe(request, "this post"))
    return post_id


EditablePost = NamedDependency[int]
"""``editable_post``: the path's post id, once the caller is known to be allowed to change that post."""
DEPENDENCIES = {"editable_post": Provide(provide_editable_post)}
