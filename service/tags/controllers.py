"""Tags: the list, with how many posts carry each."""

from __future__ import annotations

from litestar import Controller, get
from litestar.pagination import OffsetPagination

from service.errors import DATABASE_ERRORS
from service.orm import from_orm
from service.params import Limit, Offset, page_of
from service.tags import queries
from service.tags.schemas import TagRead

_read_tag = from_orm(TagRead)


class TagController(Controller):
    """Every tag in use or once used."""

    path = "/tags"
    tags = ["tags"]

    @get("/", summary="List tags", responses=DATABASE_ERRORS)
    async def list_tags(self, limit: Limit = 20, offset: Offset = 0) -> OffsetPagination[TagRead]:
        """A page of tags ordered by name, each with ``post_count``."""
        tags, total = await queries.list_tags(limit, offset)
        return page_of([_read_tag(tag) for tag in tags], total, limit, offset)
