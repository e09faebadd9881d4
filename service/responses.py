"""The app's response class: response schemas are encoded in one pass, by msgspec where that gives pydantic's bytes.

Litestar's default path turns each pydantic model into a dict (``model_dump``) and hands the dicts to msgspec;
for a page of posts that was most of the cost of the response. Here a response schema (or an ``OffsetPagination``
of them) is encoded directly:

- **Plain schemas by msgspec.** A schema is *plain* when pydantic's JSON of it is just its fields in order, each
  encoded by its type: no aliases, computed fields, custom serializers or extra fields, and field types that
  pydantic and msgspec write alike (``int``, ``str``, ``bool``, ``datetime``, enums, literals, ``None``, lists and
  plain schemas). msgspec then encodes a model's ``__dict__`` (its field values, in declaration order), about five times
  faster than ``pydantic_core.to_json``, into the same bytes. The one difference between the two encoders is a
  time zone offset with seconds (historic local mean time), which pydantic truncates to the minute and msgspec
  rounds; the service's timestamps are all UTC (Tortoise's ``timezone`` is ``UTC``).
- **Anything else by pydantic-core** (``to_json``): a schema that is not plain, or a value of a type the check did
  not foresee, sends the whole response that way.

``tests/test_responses.py`` compares both encoders on generated values of every response schema. Error bodies,
health and the documents take Litestar's path unchanged.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import msgspec
from annotated_types import BaseMetadata
from litestar import MediaType, Response
from litestar.pagination import OffsetPagination
from litestar.serialization import default_serializer
from litestar.types import Serializer
from pydantic import BaseModel, BeforeValidator
from pydantic_core import to_json

_PLAIN_TYPES = frozenset({int, str, bool, datetime, NoneType})
_plain: dict[type[BaseModel], bool] = {}


class _NotPlainError(TypeError):
    """A value the msgspec path does not encode as pydantic would: the response is encoded by pydantic-core."""


def is_plain(schema: type[BaseModel]) -> bool:
    """Whether pydantic's JSON of ``schema`` is its fields in order, each written as msgspec writes it (cached)."""
    known = _plain.get(schema)
    if known is None:
        _plain[schema] = False  # a schema that contains itself is not plain (and the check ends)
        known = _plain[schema] = _check(schema)
    return known


def _check(schema: type[BaseModel]) -> bool:
    decorators = schema.__pydantic_decorators__
    if (
        schema.model_computed_fields
        or decorators.field_serializers
        or decorators.model_serializers
        or schema.model_config.get("extra") == "allow"
        or schema.__pydantic_root_model__
    ):
        return False
    for name, info in schema.model_fields.items():
        if info.alias not in (None, name) or info.serialization_alias not in (None, name) or info.exclude:
            return False
        if any(not isinstance(meta, BeforeValidator | BaseMetadata) for meta in info.metadata):
            return False  # anything but a before-validator or a constraint (a serializer, say) may change the JSON
        if not _plain_type(info.annotation):
            return False
    return True


def _plain_type(annotation: Any) -> bool:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        return all(_plain_type(arg) for arg in args)
    if origin is list:
        return len(args) == 1 and _plain_type(args[0])
    if origin is Literal:
        return all(type(arg) in (str, int, bool) for arg in args)
    if not isinstance(annotation, type):
        return False
    if annotation in _PLAIN_TYPES or (issubclass(annotation, Enum) and issubclass(annotation, str | int)):
        return not issubclass(annotation, float)
    return issubclass(annotation, BaseModel) and is_plain(annotation)


def _fields(value: Any) -> Any:
    """msgspec's hook for the values it does not know: a plain schema's field values, in order."""
    if isinstance(value, BaseModel) and is_plain(type(value)):
        return value.__dict__
    raise _NotPlainError(type(value).__name__)


_encoder = msgspec.json.Encoder(enc_hook=_fields)


def encode(content: BaseModel | OffsetPagination[Any]) -> bytes:
    """The JSON of a response schema or a page of them: pydantic's bytes, by msgspec where the schemas are plain."""
    try:
        return _encoder.encode(content)
    except _NotPlainError:
        return to_json(content)


class SchemaResponse(Response[Any]):
    """A Litestar response whose pydantic content (or page of it) is encoded by ``encode``."""

    def render(self, content: Any, media_type: str, enc_hook: Serializer = default_serializer) -> bytes:
        if media_type == MediaType.JSON and isinstance(content, BaseModel | OffsetPagination):
            return encode(content)
        return super().render(content, media_type, enc_hook)
