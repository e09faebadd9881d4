"""Post shapes: what clients send (validated here) and what they get back (generated from the model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from litestar.params import QueryParameter
from pydantic import BaseModel, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema
from tortoise.contrib.pydantic import PydanticModel

from service import models
from service.params import SORT_HELP
from service.schemas import FreeText, SingleLine, not_null, response_schema
from service.tags.schemas import TagNames

PostTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
PostBody = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100_000), FreeText]
PostOrder = Annotated[
    Literal["created_at", "-created_at", "title", "-title", "id", "-id"], QueryParameter(description=SORT_HELP)
]

if TYPE_CHECKING:
    _AuthorFields = PydanticModel
    _PostFields = PydanticModel
    _SummaryFields = PydanticModel
else:
    _AuthorFields = response_schema(models.User, "AuthorFields", include=("id", "name"))
    _PostFields = response_schema(
        models.Post, "PostFields", include=("id", "title", "body", "author_id", "created_at", "updated_at")
    )
    _SummaryFields = response_schema(
        models.Post, "PostSummaryFields", include=("id", "title", "author_id", "created_at")
    )


class Author(_AuthorFields):
    """Who wrote a post."""


class PostSummary(_SummaryFields):
    """A post in a user's recent posts: no body."""


class Post(_PostFields):
    """A post with its author's id and name and its tag names (sorted)."""

    author: Author
    tags: list[str]


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
