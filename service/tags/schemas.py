"""Tag shapes: the rules for a tag name and lists of them, and the generated response."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field
from tortoise.contrib.pydantic import PydanticModel

from service import models
from service.schemas import PlainName, Trimmed, response_schema

MAX_TAGS_PER_POST = 10

MAX_TAG_LENGTH = 50


def lower_case_tag(name: str) -> str:
    """A tag name as stored and looked up: lower-cased one character for one, so it keeps its length.

    ``str.lower`` turns ``"İ"`` into two characters (``"i"`` and a combining dot); Unicode's one-to-one (simple)
    lower-case mapping of that one letter is ``"i"``, and every other character already maps one to one.
    """
    return name.replace("\u0130", "i").lower()


TagName = Annotated[str, Trimmed(1, MAX_TAG_LENGTH, PlainName), AfterValidator(lower_case_tag)]
"""A tag name as clients send it: trimmed, 1..50 characters, stored lower-case (as many characters)."""


def _distinct_tags(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


TagNames = Annotated[
    list[TagName],
    Field(max_length=MAX_TAGS_PER_POST, description=f"At most {MAX_TAGS_PER_POST} tag names; duplicates collapse"),
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


class TagRead(_Tag):
    """A tag and how many posts carry it."""

    post_count: int
