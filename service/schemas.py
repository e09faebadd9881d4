"""What every feature's schemas share: generated response models, string rules, pagination parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from tortoise.contrib.pydantic import PydanticModel, pydantic_model_creator
from tortoise.fields.relational import ReverseRelation
from tortoise.models import Model

from service import models  # noqa: F401 - the models' relations must be resolved before pydantic_model_creator

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


S = TypeVar("S", bound=PydanticModel)


class SchemaMismatchError(TypeError):
    """A declared response shape that differs from what pydantic_model_creator generates for its model."""


def response_schema(model: type[Model], name: str, declared: type[S]) -> type[PydanticModel]:
    """``pydantic_model_creator(model)`` for the fields of ``declared``, checked against it field by field.

    ``declared`` lists the fields and their types for type checkers (the generated class is built at run time,
    so mypy cannot see it): each module uses it under ``TYPE_CHECKING`` and this class at run time. Any
    difference in names or types raises SchemaMismatchError at import. The generated model gets the unique
    ``name`` (one OpenAPI component each) and loses the ``nullable`` key Litestar's OpenAPI rejects.
    """
    wanted = {field: info.annotation for field, info in declared.model_fields.items()}
    schema = pydantic_model_creator(model, name=name, include=tuple(wanted))
    generated = {field: info.annotation for field, info in schema.model_fields.items()}
    if generated != wanted:
        raise SchemaMismatchError(f"{name}: {model.__name__} generates {generated}, declared {wanted}")
    for info in schema.model_fields.values():
        if isinstance(info.json_schema_extra, dict):
            info.json_schema_extra.pop("nullable", None)
    schema.model_rebuild(force=True)
    return schema


def _related_list(value: Any) -> Any:
    """A prefetched relation (reverse foreign key, many-to-many) as the list of its objects."""
    return list(value) if isinstance(value, ReverseRelation) else value


T = TypeVar("T")
Related = Annotated[list[T], BeforeValidator(_related_list)]
"""``list[T]`` that also takes a prefetched Tortoise relation (what ``prefetch_related`` fills in)."""


def sorted_names(value: Any) -> Any:
    """Before-validator: the ``name`` of each object of a prefetched relation, sorted by code point."""
    if isinstance(value, ReverseRelation):
        return sorted(item.name for item in value)
    return value


@dataclass(frozen=True, slots=True)
class CharacterRule:
    """Annotated metadata: reject strings with characters outside a set, and say so in the JSON schema too."""

    forbidden: str  # the body of a regular expression character class: what must not appear
    message: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        forbidden = re.compile(f"[{self.forbidden}]")

        def check(value: str) -> str:
            if forbidden.search(value):
                raise ValueError(self.message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = f"^[^{self.forbidden}]*$"
        return json_schema


SingleLine = CharacterRule(r"\x00-\x1f\x7f", "must not contain control characters (including line breaks)")
"""A one-line string: no control characters at all."""
FreeText = CharacterRule(
    r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f", "must not contain control characters other than tabs and line breaks"
)
"""Text that may hold tabs and line breaks but no other control characters (no NUL, which PostgreSQL refuses)."""


def not_null(value: object) -> object:
    """For ``mode="before"`` field validators of optional update fields that may be left out but not nulled."""
    if value is None:
        raise ValueError("cannot be null; leave the field out to keep its value")
    return value
