"""Tag shapes: the rules for a tag name and lists of them, and the generated response."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, StringConstraints
from tortoise.contrib.pydantic import PydanticModel

from service import models
from service.schemas import SingleLine, response_schema

MAX_TAGS_PER_POST = 10

TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50), SingleLine
]
"""A tag name as clients send it: trimmed and lower-cased, then 1..50 characters."""


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

if TYPE_CHECKING:
    _TagFields = PydanticModel
else:
    _TagFields = response_schema(models.Tag, "TagFields", include=("id", "name"))


class Tag(_TagFields):
    """A tag and how many posts carry it."""

    post_count: int
