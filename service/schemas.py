"""What every feature's schemas share: generated response models, string rules, pagination parameters."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AfterValidator
from tortoise import Tortoise
from tortoise.contrib.pydantic import PydanticModel, pydantic_model_creator
from tortoise.models import Model

from service.db import APP_LABEL, MODEL_MODULES

# Relations must be known before the first pydantic_model_creator, or they are silently left out.
Tortoise.init_models(MODEL_MODULES, APP_LABEL)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def response_schema(model: type[Model], name: str, **options: Any) -> type[PydanticModel]:
    """``pydantic_model_creator`` with a unique ``name``, minus the ``nullable`` key Litestar's OpenAPI rejects."""
    schema = pydantic_model_creator(model, name=name, **options)
    for info in schema.model_fields.values():
        if isinstance(info.json_schema_extra, dict):
            info.json_schema_extra.pop("nullable", None)
    schema.model_rebuild(force=True)
    return schema


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (including line breaks)")
    return value


def _free_text(value: str) -> str:
    if _CONTROL_EXCEPT_NEWLINES.search(value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return value


SingleLine = AfterValidator(_single_line)
"""A one-line string: no control characters at all."""
FreeText = AfterValidator(_free_text)
"""Text that may hold tabs and line breaks but no other control characters (no NUL, which PostgreSQL refuses)."""


def not_null(value: object) -> object:
    """For ``mode="before"`` field validators of optional update fields that may be left out but not nulled."""
    if value is None:
        raise ValueError("cannot be null; leave the field out to keep its value")
    return value
