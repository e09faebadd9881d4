"""Responses are encoded into exactly the bytes pydantic-core writes (service/responses.py): by msgspec for the plain
response schemas, by pydantic-core for anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.pagination import OffsetPagination
from pydantic import BaseModel, Field, PlainSerializer, computed_field, field_serializer
from pydantic_core import to_json

import service.app
from service.responses import SchemaResponse, encode, is_plain
from service.settings import Settings

ZONES = st.sampled_from([UTC, ZoneInfo("UTC"), timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
"""Time zones with whole-minute offsets (the service's timestamps are UTC): see service/responses.py."""


def response_schemas() -> set[type[BaseModel]]:
    """The schema (or page item) every JSON handler of the app declares it returns."""
    app = service.app.create_app(Settings.from_env({"DATABASE_URL": "postgresql://unused@localhost/unused"}))
    found: set[type[BaseModel]] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            returned = handler.parsed_fn_signature.return_type.annotation
            if get_origin(returned) is OffsetPagination:
                (returned,) = get_args(returned)
            if isinstance(returned, type) and issubclass(returned, BaseModel):
                found.add(returned)
    return found


SCHEMAS = sorted(response_schemas(), key=lambda schema: schema.__name__)


def values(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a declared field type, as a handler could hold them (built without validation)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        return st.one_of(*(values(arg) for arg in args))
    if origin is list:
        return st.lists(values(args[0]), max_size=4)
    if origin is Annotated:
        return values(args[0])
    if origin is Literal:
        return st.sampled_from(args)
    if annotation is NoneType:
        return st.none()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-(2**63), 2**63 - 1)
    if annotation is str:
        return st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
    if annotation is datetime:
        return st.datetimes(timezones=st.none() | ZONES) | st.datetimes(timezones=ZONES, allow_imaginary=False)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return instances(annotation)
    raise AssertionError(f"no strategy for {annotation!r}")


def instances(schema: type[BaseModel]) -> st.SearchStrategy[BaseModel]:
    fields = {name: values(info.annotation) for name, info in schema.model_fields.items()}
    return st.fixed_dictionaries(fields).map(lambda data: schema.model_construct(**data))


def render(content: Any) -> bytes:
    return SchemaResponse(content).render(content, MediaType.JSON)


def test_every_response_schema_takes_the_msgspec_path() -> None:
    assert {schema.__name__ for schema in SCHEMAS} >= {"PostRead", "UserRead", "UserDetailRead", "TagRead"}
    assert [schema.__name__ for schema in SCHEMAS if not is_plain(schema)] == []


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_responses_are_the_bytes_pydantic_writes(schema: type[BaseModel], data: st.DataObject) -> None:
    item = data.draw(instances(schema))
    assert render(item) == to_json(item)
    page = OffsetPagination(items=data.draw(st.lists(instances(schema), max_size=3)), limit=20, offset=0, total=7)
    assert render(page) == to_json(page)


class _Aliased(BaseModel):
    name: str = Field(serialization_alias="Name")


class _Computed(BaseModel):
    name: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shout(self) -> str:
        return self.name.upper()


class _Serialized(BaseModel):
    when: datetime

    @field_serializer("when")
    def _stamp(self, value: datetime) -> int:
        return int(value.timestamp())


class _Annotated(BaseModel):
    name: Annotated[str, PlainSerializer(lambda value: value[::-1])]


class _Float(BaseModel):
    ratio: float


class _Nesting(BaseModel):
    inner: list[_Aliased]


@pytest.mark.parametrize(
    "content",
    [
        _Aliased(name="ada"),
        _Computed(name="ada"),
        _Serialized(when=datetime(2025, 1, 1, tzinfo=UTC)),
        _Annotated(name="ada"),
        _Float(ratio=0.1),
        _Nesting(inner=[_Aliased(name="ada")]),
        OffsetPagination(items=[_Aliased(name="ada")], limit=1, offset=0, total=1),
    ],
    ids=lambda content: type(content).__name__,
)
def test_schemas_that_are_not_plain_are_encoded_by_pydantic(content: Any) -> None:
    """An alias, a computed field, a serializer or a float makes pydantic's JSON more than the field values: such a
    response is written by pydantic-core, and is what it writes."""
    if isinstance(content, BaseModel):
        assert not is_plain(type(content))
    assert encode(content) == to_json(content)
    assert render(content) == to_json(content)


def test_a_value_of_an_unforeseen_type_sends_the_response_to_pydantic() -> None:
    """A plain schema holding something its declaration does not (``model_construct`` does not check) still gets
    pydantic's bytes."""
    odd = _Nesting.model_construct(inner=[_Float(ratio=0.5)])
    assert encode(odd) == to_json(odd)
