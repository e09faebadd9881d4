"""Posts: write (authors and admins), read (anyone)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.pagination import OffsetPagination
from litestar.params import JSONBody, QueryParameter

from service.auth.dependencies import BEARER, CurrentUser, ensure_owner_or_admin
from service.errors import JSON_WRITES, READS, TOKEN_REQUIRED
from service.media import require_declared_media_type
from service.params import Limit, Offset, Search, TagFilter, id_parameter, page_of
from service.posts import queries
from service.posts.schemas import Post, PostCreate, PostOrder, PostUpdate
from service.schemas import INT64_MAX, INT64_MIN

PostId = Annotated[int, id_parameter("The post's")]


class PostController(Controller):
    """Posts and their authors."""

    path = "/posts"
    tags = ["posts"]

    @post(
        "/",
        before_request=require_declared_media_type,
        summary="Write a post",
        security=BEARER,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED],
    )
    async def create_post(self, data: JSONBody[PostCreate], current_user: CurrentUser) -> Post:
        """Create a post by the caller (an ``author_id`` in the body is ignored)."""
        post_id = await queries.create_post(current_user.id, data.title, data.body, data.tags)
        return await queries.fetch_post(post_id)

    @get("/", summary="List posts", raises=READS)
    async def list_posts(
        self,
        limit: Limit = 20,
        offset: Offset = 0,
        author_id: Annotated[
            int | None, QueryParameter(ge=INT64_MIN, le=INT64_MAX, description="Only posts by this user")
        ] = None,
        tag: TagFilter = None,
        q: Search = None,
        order: PostOrder = "-created_at",
    ) -> OffsetPagination[Post]:
        """A page of posts with their authors and tags, newest first unless ``order`` says otherwise."""
        posts, total = await queries.list_posts(limit, offset, author_id=author_id, tag=tag, q=q, order=order)
        return page_of(posts, total, limit, offset)

    @get("/{post_id:int}", summary="Get a post", raises=[*READS, NotFoundException])
    async def get_post(self, post_id: PostId) -> Post:
        """A post with its author and tags."""
        return await queries.fetch_post(post_id)

    @patch(
        "/{post_id:int}",
        before_request=require_declared_media_type,
        summary="Update a post",
        security=BEARER,
        raises=[*JSON_WRITES, *TOKEN_REQUIRED, NotFoundException, PermissionDeniedException],
    )
    async def update_post(self, post_id: PostId, data: JSONBody[PostUpdate], current_user: CurrentUser) -> Post:
        """Change the title, body or tags (the new set replaces the old): the author or an admin."""

        def may_edit(author_id: int) -> None:
            ensure_owner_or_admin(current_user, author_id, "update this post")

        await queries.update_post(post_id, data.model_dump(exclude_unset=True), may_edit)
        return await queries.fetch_post(post_id)

    @delete(
        "/{post_id:int}",
        summary="Delete a post",
        security=BEARER,
        raises=[*READS, *TOKEN_REQUIRED, NotFoundException, PermissionDeniedException],
    )
    async def delete_post(self, post_id: PostId, current_user: CurrentUser) -> None:
        """Delete a post (its tags stay): the author or an admin."""
        ensure_owner_or_admin(current_user, await queries.fetch_post_author(post_id), "delete this post")
        await queries.delete_post(post_id)
