"""Tag shapes: the rules for a tag name and lists of them, and the generated response."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, StringConstraints
from tortoise.contrib.pydantic import PydanticModel

from service import models
from service.schemas import SingleLine, response_schema

MAX_TAGS_PER_POST = 10

MAX_TAG_LENGTH = 50


def _lower_case(name: str) -> str:
    lowered = name.lower()  # may be longer than the name: "İ".lower() is two characters
    if len(lowered) > MAX_TAG_LENGTH:
        raise ValueError(f"must be at most {MAX_TAG_LENGTH} characters once lower-cased")
    return lowered


TagName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG_LENGTH),
    SingleLine,
    AfterValidator(_lower_case),
]
"""A tag name as clients send it: trimmed, 1..50 characters, stored lower-case (still at most 50 characters)."""


def _distinct_tags(names: list[str]) -> list[str]:
    distinct = list(dict.fromkeys(names))
    if len(distinct) > MAX_TAGS_PER_POST:
        raise ValueError(f"a post has at most {MAX_TAGS_PER_POST} distinct tags, got {len(distinct)}")
    return distinct


TagNames = Annotated[
    list[TagName],
    Field(max_length=100, description=f"Tag names; duplicates collapse; at most {MAX_TAGS_PER_POST} distinct"),
    AfterValidator(_distinct_tags),
]


class _TagColumns(PydanticModel):
    """The tag fields responses show (``pydantic_model_creator`` generates the real class from the model)."""

    id: int
    name: str


if TYPE_CHECKING:
    _Tag = _TagColumns
else:
    _Tag = response_schema(models.Tag, "TagFields", _TagColumns)


class Tag(_Tag):
    """A tag and how many posts carry it."""

    post_count: int
