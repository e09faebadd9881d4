"""Posts: anyone reads them (also a user's posts, under ``/users/{id}/posts``); the caller writes their own, an
admin any."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import JSONBody, QueryParameter

from service.auth.dependencies import BEARER, AppSettings, CurrentUser
from service.conditional import PRECONDITIONS, IfMatchCondition
from service.errors import BODY_ERRORS, DATABASE_ERRORS, JSON_WRITES, TOKEN_REQUIRED
from service.idempotency import IDEMPOTENCY_ERRORS, IDEMPOTENT
from service.pages import Cursor, Page, paging
from service.params import IN_DIGITS, Limit, Offset, PostId, Search, TagFilter, UserId, Words
from service.posts import dependencies, queries
from service.posts.dependencies import EditablePost
from service.posts.schemas import PostCreate, PostOrder, PostRead, PostUpdate, SearchOrder
from service.schemas import INT64_MAX, INT64_MIN


class PostController(Controller):
    """Posts: reading is public; every write needs a token, and changing a post its author or an admin (checked by
    the ``editable_post`` dependency before the handler runs)."""

    path = "/posts"
    tags = ["posts"]
    dependencies = dependencies.DEPENDENCIES

    @get("/", summary="List posts", responses=DATABASE_ERRORS)
    async def list_posts(
        self,
        settings: AppSettings,
        limit: Limit = 20,
        offset: Offset = None,
        cursor: Cursor = None,
        author_id: Annotated[
            int | None, QueryParameter(ge=INT64_MIN, le=INT64_MAX, description=f"Only posts by this user, {IN_DIGITS}")
        ] = None,
        tag: TagFilter = None,
        q: Search = None,
        search: Words = None,
        order: SearchOrder = None,
    ) -> Page[PostRead]:
        """A page of posts with their authors and tags, newest first (with ``search``, most relevant first) unless
        ``order`` says otherwise; the next page by ``cursor`` (the page's ``next_cursor``) or by ``offset``."""
        search = (search.strip() or None) if search is not None else None
        order = order or ("-created_at" if search is None else "-rank")
        if order == "-rank" and search is None:
            order = "-id"  # every post is as relevant: ties broken by id
        page = paging(
            settings.jwt_secret, "posts", limit, offset, cursor, order, author_id=author_id, tag=tag, q=q, search=search
        )
        return await queries.list_posts(
            page, author_id=author_id, tag=tag, q=q, search=search, language=settings.search_language
        )

    @get("/{post_id:int}", summary="Get a post", raises=[NotFoundException], responses=DATABASE_ERRORS)
    async def get_post(self, post_id: PostId) -> PostRead:
        """A post with its author and tags."""
        return await queries.fetch_post(post_id)

    @post(
        "/",
        summary="Write a post",
        security=BEARER,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, *IDEMPOTENCY_ERRORS],
        responses=BODY_ERRORS,
        opt={IDEMPOTENT: True},
    )
    async def create_post(self, data: JSONBody[PostCreate], current_user: CurrentUser) -> PostRead:
        """Create a post by the caller (an ``author_id`` in the body is ignored)."""
        post_id = await queries.create_post(current_user.id, data.title, data.body, data.tags)
        return await queries.fetch_post(post_id)

    @patch(
        "/{post_id:int}",
        summary="Update a post",
        security=BEARER,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, NotFoundException, PermissionDeniedException, *PRECONDITIONS],
        responses=BODY_ERRORS,
    )
    async def update_post(
        self, post_id: PostId, data: JSONBody[PostUpdate], editable_post: EditablePost, if_match: IfMatchCondition
    ) -> PostRead:
        """Change the title, body or tags (the new set replaces the old): the author or an admin. With
        ``If-Match``, only the version it names (412 otherwise)."""
        await queries.update_post(editable_post, data.model_dump(exclude_unset=True), if_match)
        return await queries.fetch_post(editable_post)

    @delete(
        "/{post_id:int}",
        summary="Delete a post",
        security=BEARER,
        raises=[*TOKEN_REQUIRED, NotFoundException, PermissionDeniedException, *PRECONDITIONS],
        responses=DATABASE_ERRORS,
    )
    async def delete_post(self, post_id: PostId, editable_post: EditablePost, if_match: IfMatchCondition) -> None:
        """Delete a post (its tags stay): the author or an admin. With ``If-Match``, only the version it names."""
        await queries.delete_post(editable_post, if_match)


class UserPostController(Controller):
    """A user's posts: public."""

    path = "/users/{user_id:int}/posts"
    tags = ["users"]

    @get("/", summary="A user's posts", raises=[NotFoundException], responses=DATABASE_ERRORS)
    async def list_user_posts(
        self,
        settings: AppSettings,
        user_id: UserId,
        limit: Limit = 20,
        offset: Offset = None,
        cursor: Cursor = None,
        order: PostOrder = "-created_at",
    ) -> Page[PostRead]:
        """The user's posts, newest first, paginated like ``GET /posts``."""
        filters = {"author_id": user_id, "tag": None, "q": None, "search": None}
        page = paging(settings.jwt_secret, "posts", limit, offset, cursor, order, **filters)
        return await queries.list_posts(page, author_id=user_id, author_must_exist=True)
