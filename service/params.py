"""Query and path parameters shared by the controllers: ids, pages, free-text search."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar.pagination import OffsetPagination
from litestar.params import PathParameter, QueryParameter

from service.schemas import INT64_MAX, INT64_MIN, SingleLine

T = TypeVar("T")
ONE_LINE = f"^[^{SingleLine.forbidden}]*$"
"""The pattern of a one-line query string: no control characters, no line breaks (as ``SingleLine``)."""

Search = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        pattern=ONE_LINE,
        description="Case-insensitive substring to look for (one line, at most 200 characters)",
    ),
]

TagFilter = Annotated[
    str | None,
    QueryParameter(max_length=200, pattern=ONE_LINE, description="Only posts with this tag"),
]


def id_parameter(what: str) -> Any:
    """A path id in the 64-bit range (outside it: 400; unknown: 404)."""
    return PathParameter(ge=INT64_MIN, le=INT64_MAX, description=f"{what} id")


UserId = Annotated[int, id_parameter("The user's")]
PostId = Annotated[int, id_parameter("The post's")]

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size, 1..100.")]
Offset = Annotated[
    int, QueryParameter(ge=0, le=INT64_MAX, description="Rows to skip; past the end gives an empty page.")
]

SORT_HELP = "Sort key; a leading - sorts descending (ties are broken by id)."


def page_of(items: list[T], total: int, limit: int, offset: int) -> OffsetPagination[T]:
    """The contract's page: ``{"items", "limit", "offset", "total"}``."""
    return OffsetPagination(items=items, limit=limit, offset=offset, total=total)
