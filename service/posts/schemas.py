"""Post shapes: what clients send (validated here) and what they get back (generated from the model)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from litestar.params import QueryParameter
from pydantic import BaseModel, BeforeValidator, Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from tortoise.contrib.pydantic import PydanticModel

from service import models
from service.params import SORT_HELP
from service.schemas import FreeText, PlainTitle, Trimmed, not_null, response_schema, sorted_names
from service.tags.schemas import TagNames

PostTitle = Annotated[str, Trimmed(1, 200, PlainTitle)]
PostBody = Annotated[str, Trimmed(0, 100_000, FreeText)]
PostOrder = Annotated[
    Literal["created_at", "-created_at", "title", "-title", "id", "-id"], QueryParameter(description=SORT_HELP)
]
SearchOrder = Annotated[
    Literal["created_at", "-created_at", "title", "-title", "id", "-id", "-rank"] | None,
    QueryParameter(
        description=f"{SORT_HELP} By default -created_at (newest first), or with search -rank (most relevant first;"
        " without search every post is as relevant, so -rank is -id)."
    ),
]


class _AuthorColumns(PydanticModel):
    """The author fields a post shows (``pydantic_model_creator`` generates the real class from the model)."""

    id: int
    name: str


class _PostColumns(PydanticModel):
    """The post fields every post response shows."""

    id: int
    title: str
    body: str | None
    author_id: int
    created_at: datetime
    updated_at: datetime


class _PostSummaryColumns(PydanticModel):
    """The post fields of a user's recent posts: no body."""

    id: int
    title: str
    author_id: int
    created_at: datetime


if TYPE_CHECKING:
    _Author = _AuthorColumns
    _Post = _PostColumns
    _PostSummary = _PostSummaryColumns
else:
    _Author = response_schema(models.User, "AuthorFields", _AuthorColumns)
    _Post = response_schema(models.Post, "PostFields", _PostColumns)
    _PostSummary = response_schema(models.Post, "PostSummaryFields", _PostSummaryColumns)


class AuthorRead(_Author):
    """Who wrote a post."""


class PostSummaryRead(_PostSummary):
    """A post in a user's recent posts: no body."""


class PostRead(_Post):
    """A post with its author's id and name and its tag names (sorted)."""

    author: AuthorRead
    tags: Annotated[list[str], BeforeValidator(sorted_names)]


class PostCreate(BaseModel):
    """A new post; the author is the caller (an ``author_id`` in the body is ignored)."""

    title: PostTitle
    body: PostBody | None = None
    tags: TagNames = Field(default_factory=list)


class PostUpdate(BaseModel):
    """Any of a post's editable fields; the ones left out keep their value."""

    title: PostTitle | SkipJsonSchema[None] = None
    body: PostBody | None = Field(default=None, description="null clears the body")
    tags: TagNames | SkipJsonSchema[None] = Field(default=None, description="Replaces the post's tags; [] removes all")

    @field_validator("title", "tags", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)
