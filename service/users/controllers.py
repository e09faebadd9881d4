"""Users: sign-up, the caller's own account, lists, detail, update, delete and the profile."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import JSONBody, QueryParameter

from service import models
from service.auth.dependencies import BEARER, BEARER_OPTIONAL, AppSettings, CurrentUser, OptionalUser, is_admin
from service.conditional import PRECONDITIONS, IfMatchCondition
from service.errors import BODY_ERRORS, DATABASE_ERRORS, JSON_WRITES, TOKEN_REQUIRED, ConflictError
from service.idempotency import IDEMPOTENT, IdempotencyMismatchError
from service.orm import from_orm
from service.pages import Cursor, Page, paging
from service.params import Limit, Offset, Search, UserId
from service.users import dependencies, queries
from service.users.dependencies import OwnAccount
from service.users.schemas import (
    ProfileRead,
    ProfileWrite,
    PublicUserDetailRead,
    PublicUserRead,
    UserCreate,
    UserDetailRead,
    UserOrder,
    UserRead,
    UserUpdate,
)

_read_user = from_orm(UserRead)
BY_CALLER = [ResponseHeader(name="Vary", value="Authorization", description="The answer depends on the caller")]
"""``response_headers=`` of reads whose answer depends on who asks (the email shown to its owner and admins)."""


class UserController(Controller):
    """Accounts: signing up and reading are public (a token decides which roles a sign-up may give, and whether
    emails are shown: to the user themself and to admins only); changing an account needs the user themself or an
    admin (checked by the ``own_account`` dependency before the handler runs), and a role an admin."""

    path = "/users"
    tags = ["users"]
    dependencies = dependencies.DEPENDENCIES

    @post(
        "/",
        summary="Sign up",
        security=BEARER_OPTIONAL,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, PermissionDeniedException, ConflictError, IdempotencyMismatchError],
        opt={IDEMPOTENT: True},
        responses=BODY_ERRORS,
    )
    async def create_user(self, data: JSONBody[UserCreate], optional_user: OptionalUser) -> UserDetailRead:
        """Create an account. Anyone may sign up as a member; only an admin's token may set another role."""
        role = data.role or models.Role.MEMBER
        if role != models.Role.MEMBER and not is_admin(optional_user):
            raise PermissionDeniedException("Only an admin may create a user with a role other than member")
        user_id = await queries.create_user(data, role)
        return await queries.fetch_own_user_detail(user_id)  # the new user's own (or an admin's) view

    @get(
        "/",
        summary="List users",
        security=BEARER_OPTIONAL,
        raises=[*TOKEN_REQUIRED],
        responses=DATABASE_ERRORS,
        response_headers=BY_CALLER,
    )
    async def list_users(
        self,
        optional_user: OptionalUser,
        settings: AppSettings,
        limit: Limit = 20,
        offset: Offset = None,
        cursor: Cursor = None,
        role: Annotated[models.Role | None, QueryParameter(description="Only users with this role")] = None,
        q: Search = None,
        order: UserOrder = "-created_at",
    ) -> Page[UserRead | PublicUserRead]:
        """A page of users, newest first unless ``order`` says otherwise; ``q`` searches names, and for admins
        emails too. Admins see every email (``UserRead``); everyone else sees none (``PublicUserRead``)."""
        private = is_admin(optional_user)
        page = paging(settings.jwt_secret, "users", limit, offset, cursor, order, role=role, q=q, private=private)
        return await queries.list_users(page, role=role, q=q, private=private)

    @get(
        "/{user_id:int}",
        summary="Get a user",
        security=BEARER_OPTIONAL,
        raises=[*TOKEN_REQUIRED, NotFoundException],
        responses=DATABASE_ERRORS,
        response_headers=BY_CALLER,
    )
    async def get_user(self, user_id: UserId, optional_user: OptionalUser) -> UserDetailRead | PublicUserDetailRead:
        """A user with their profile, post count and 20 most recent posts (without bodies); the email only for the
        user themself and admins (``UserDetailRead``), not for anyone else (``PublicUserDetailRead``)."""
        private = optional_user is not None and (optional_user.id == user_id or is_admin(optional_user))
        return await queries.fetch_user_detail(user_id, private=private)

    @get(
        "/me",
        summary="The caller",
        security=BEARER,
        raises=[*TOKEN_REQUIRED],
        responses=DATABASE_ERRORS,
        response_headers=BY_CALLER,
    )
    async def get_me(self, current_user: CurrentUser) -> UserRead:
        """The user the bearer token belongs to."""
        return _read_user(current_user)

    @patch(
        "/{user_id:int}",
        summary="Update a user",
        security=BEARER,
        raises=[
            *JSON_WRITES,
            *TOKEN_REQUIRED,
            NotFoundException,
            PermissionDeniedException,
            ConflictError,
            *PRECONDITIONS,
        ],
        responses=BODY_ERRORS,
    )
    async def update_user(
        self,
        user_id: UserId,
        data: JSONBody[UserUpdate],
        own_account: OwnAccount,
        current_user: CurrentUser,
        if_match: IfMatchCondition,
    ) -> UserDetailRead:
        """Change any of name, email, password, role: the user themself or an admin; the role only an admin. With
        ``If-Match``, only the version it names (the ETag of this user as the caller reads it; 412 otherwise)."""
        changes = data.model_dump(exclude_unset=True)
        if "role" in changes and not is_admin(current_user) and changes["role"] != current_user.role:
            raise PermissionDeniedException("Only an admin may change a role")
        if changes or if_match.header is not None:
            await queries.update_user(own_account, changes, if_match)
        return await queries.fetch_own_user_detail(own_account)

    @delete(
        "/{user_id:int}",
        summary="Delete a user",
        security=BEARER,
        raises=[*TOKEN_REQUIRED, NotFoundException, PermissionDeniedException, *PRECONDITIONS],
        responses=DATABASE_ERRORS,
    )
    async def delete_user(self, user_id: UserId, own_account: OwnAccount, if_match: IfMatchCondition) -> None:
        """Delete an account with its profile and posts: the user themself or an admin. With ``If-Match``, only the
        version it names."""
        await queries.delete_user(own_account, if_match)

    @put(
        "/{user_id:int}/profile",
        summary="Set a user's profile",
        security=BEARER,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, NotFoundException, PermissionDeniedException, *PRECONDITIONS],
        responses=BODY_ERRORS,
    )
    async def put_profile(
        self, user_id: UserId, data: JSONBody[ProfileWrite], own_account: OwnAccount, if_match: IfMatchCondition
    ) -> ProfileRead:
        """Create or replace the profile (both fields; a missing one becomes null): the user themself or an admin.
        With ``If-Match``, only over the version it names (the ETag of the last answer of this PUT)."""
        return ProfileRead.model_validate(await queries.put_profile(own_account, data, if_match))
