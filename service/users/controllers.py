"""Users: sign-up, lists, detail, update, delete, and a user's posts."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.pagination import OffsetPagination
from litestar.params import JSONBody, QueryParameter

from service import models
from service.auth.dependencies import (
    BEARER,
    BEARER_OPTIONAL,
    CurrentUser,
    OptionalUser,
    ensure_owner_or_admin,
    is_admin,
)
from service.errors import JSON_WRITES, READS, TOKEN_REQUIRED, ConflictError
from service.media import require_declared_media_type
from service.params import Limit, Offset, Search, id_parameter, page_of
from service.posts import queries as post_queries
from service.posts.schemas import Post, PostOrder
from service.users import queries
from service.users.schemas import Profile, ProfileIn, User, UserCreate, UserDetail, UserOrder, UserUpdate

UserId = Annotated[int, id_parameter("The user's")]


class UserController(Controller):
    """Accounts and what hangs off them."""

    path = "/users"
    tags = ["users"]

    @post(
        "/",
        before_request=require_declared_media_type,
        summary="Sign up",
        security=BEARER_OPTIONAL,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, PermissionDeniedException, ConflictError],
    )
    async def create_user(self, data: JSONBody[UserCreate], optional_user: OptionalUser) -> UserDetail:
        """Create an account. Anyone may sign up as a member; only an admin's token may set another role."""
        role = data.role or models.Role.MEMBER
        if role != models.Role.MEMBER and not is_admin(optional_user):
            raise PermissionDeniedException("Only an admin may create a user with a role other than member")
        user_id = await queries.create_user(data, role)
        return await queries.fetch_user_detail(user_id)

    @get("/", summary="List users", raises=READS)
    async def list_users(
        self,
        limit: Limit = 20,
        offset: Offset = 0,
        role: Annotated[models.Role | None, QueryParameter(description="Only users with this role")] = None,
        q: Search = None,
        order: UserOrder = "-created_at",
    ) -> OffsetPagination[User]:
        """A page of users, newest first unless ``order`` says otherwise; ``q`` searches name and email."""
        users, total = await queries.list_users(limit, offset, role=role, q=q, order=order)
        return page_of(users, total, limit, offset)

    @get("/{user_id:int}", summary="Get a user", raises=[*READS, NotFoundException])
    async def get_user(self, user_id: UserId) -> UserDetail:
        """A user with their profile, post count and 20 most recent posts (without bodies)."""
        return await queries.fetch_user_detail(user_id)

    @patch(
        "/{user_id:int}",
        before_request=require_declared_media_type,
        summary="Update a user",
        security=BEARER,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, NotFoundException, PermissionDeniedException, ConflictError],
    )
    async def update_user(self, user_id: UserId, data: JSONBody[UserUpdate], current_user: CurrentUser) -> UserDetail:
        """Change any of name, email, password, role: the user themself or an admin; the role only an admin."""
        await self._ensure_may_act(current_user, user_id, "update this user")
        changes = data.model_dump(exclude_unset=True)
        if "role" in changes and not is_admin(current_user) and changes["role"] != current_user.role:
            raise PermissionDeniedException("Only an admin may change a role")
        if changes:
            await queries.update_user(user_id, changes)
        return await queries.fetch_user_detail(user_id)

    @delete(
        "/{user_id:int}",
        summary="Delete a user",
        security=BEARER,
        raises=[*READS, *TOKEN_REQUIRED, NotFoundException, PermissionDeniedException],
    )
    async def delete_user(self, user_id: UserId, current_user: CurrentUser) -> None:
        """Delete an account with its profile and posts: the user themself or an admin."""
        await self._ensure_may_act(current_user, user_id, "delete this user")
        await queries.delete_user(user_id)

    @put(
        "/{user_id:int}/profile",
        before_request=require_declared_media_type,
        summary="Set a user's profile",
        security=BEARER,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, NotFoundException, PermissionDeniedException],
    )
    async def put_profile(self, user_id: UserId, data: JSONBody[ProfileIn], current_user: CurrentUser) -> Profile:
        """Create or replace the profile (both fields; a missing one becomes null): the user themself or an admin."""
        await self._ensure_may_act(current_user, user_id, "change this profile")
        return Profile.model_validate(await queries.put_profile(user_id, data))

    @get("/{user_id:int}/posts", summary="A user's posts", raises=[*READS, NotFoundException])
    async def list_user_posts(
        self,
        user_id: UserId,
        limit: Limit = 20,
        offset: Offset = 0,
        order: PostOrder = "-created_at",
    ) -> OffsetPagination[Post]:
        """The user's posts, newest first, paginated like ``GET /posts``."""
        posts, total = await post_queries.list_posts(
            limit, offset, author_id=user_id, order=order, author_must_exist=True
        )
        return page_of(posts, total, limit, offset)

    @staticmethod
    async def _ensure_may_act(actor: models.User, user_id: int, action: str) -> None:
        """403 for someone else's account, but 404 when there is no such user.

        Users acting on themselves and admins need no lookup: the write itself finds a missing user (404).
        """
        if actor.id != user_id and not is_admin(actor):
            await queries.ensure_user_exists(user_id)
        ensure_owner_or_admin(actor, user_id, action)
