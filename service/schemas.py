"""What every feature's schemas share: generated response models, string rules, pagination parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from tortoise import Tortoise
from tortoise.contrib.pydantic import PydanticModel, pydantic_model_creator
from tortoise.models import Model

from service.db import APP_LABEL, MODEL_MODULES

# Relations must be known before the first pydantic_model_creator, or they are silently left out.
Tortoise.init_models(MODEL_MODULES, APP_LABEL)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def response_schema(model: type[Model], name: str, **options: Any) -> type[PydanticModel]:
    """``pydantic_model_creator`` with a unique ``name``, minus the ``nullable`` key Litestar's OpenAPI rejects."""
    schema = pydantic_model_creator(model, name=name, **options)
    for info in schema.model_fields.values():
        if isinstance(info.json_schema_extra, dict):
            info.json_schema_extra.pop("nullable", None)
    schema.model_rebuild(force=True)
    return schema


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
