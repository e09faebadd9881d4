"""Tags: the list, with how many posts carry each."""

from __future__ import annotations

from litestar import Controller, get

from service.auth.dependencies import AppSettings
from service.errors import DATABASE_ERRORS
from service.orm import from_orm
from service.pages import Cursor, Page, paging
from service.params import Limit, Offset
from service.tags import queries
from service.tags.schemas import TagRead

_read_tag = from_orm(TagRead)


class TagController(Controller):
    """Every tag in use or once used."""

    path = "/tags"
    tags = ["tags"]

    @get("/", summary="List tags", responses=DATABASE_ERRORS)
    async def list_tags(
        self, settings: AppSettings, limit: Limit = 20, offset: Offset = None, cursor: Cursor = None
    ) -> Page[TagRead]:
        """A page of tags ordered by name, each with ``post_count``; the next page by ``cursor`` or ``offset``."""
        page = await queries.list_tags(paging(settings.jwt_secret, "tags", limit, offset, cursor, "name"))
        return Page([_read_tag(tag) for tag in page.items], page.limit, page.offset, page.total, page.next_cursor)
