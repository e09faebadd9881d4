"""Responses are the bytes pydantic writes for the response schemas (``to_json``), and the same bytes Litestar's own
encoding (the app's type encoders) would write: the JSON of every response schema is pydantic's, whatever values it
holds, whichever of the two writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import MediaType, Response
from litestar.handlers import HTTPRouteHandler
from litestar.response.base import ASGIResponse
from litestar.serialization import encode_json, get_serializer
from pydantic import BaseModel
from pydantic_core import to_json

import service.app
from service.pages import Page
from service.posts.schemas import PostRead
from service.responses import SchemaResponse
from service.settings import Settings

ZONES = st.sampled_from([UTC, ZoneInfo("UTC"), timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
APP = service.app.create_app(Settings.from_env({"DATABASE_URL": "postgresql://unused@localhost/unused"}))


def response_schemas() -> set[type[BaseModel]]:
    """The schema (or page item) every JSON handler of the app declares it returns."""
    found: set[type[BaseModel]] = set()
    for route in APP.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            returned = handler.parsed_fn_signature.return_type.annotation
            if get_origin(returned) is Page:
                (returned,) = get_args(returned)
            for candidate in get_args(returned) if get_origin(returned) in (Union, UnionType) else (returned,):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    found.add(candidate)
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


def litestar_encoding(content: Any) -> bytes:
    """What Litestar's own encoding with the app's type encoders writes for ``content``."""
    return encode_json(content, serializer=get_serializer(APP.type_encoders))


def render(content: Any) -> bytes:
    """What the app sends for ``content``: its response class's rendering."""
    return SchemaResponse(content).render(content, MediaType.JSON)


def test_the_response_schemas_are_found() -> None:
    assert {schema.__name__ for schema in SCHEMAS} >= {
        "PostRead",
        "UserRead",
        "PublicUserRead",
        "UserDetailRead",
        "PublicUserDetailRead",
        "TagRead",
    }


def test_the_app_sends_schemas_through_its_response_class() -> None:
    assert APP.response_class is SchemaResponse


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_responses_are_the_bytes_pydantic_writes(schema: type[BaseModel], data: st.DataObject) -> None:
    item = data.draw(instances(schema))
    assert render(item) == to_json(item) == litestar_encoding(item)
    items = data.draw(st.lists(instances(schema), max_size=3))
    for page in (Page(items, 20, 0, 7, "WzEsMl0.c2lnbmF0dXJl"), Page(items, 20, None, None, None)):
        assert render(page) == to_json(page) == litestar_encoding(page)


async def asgi_messages(response: Any) -> list[dict[str, Any]]:
    """What an ASGI response sends when called."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response({"type": "http"}, receive, send)
    return sent


class LitestarsOwn(SchemaResponse):
    """The response class with Litestar's own ``to_asgi_response`` (its rendering still pydantic's)."""

    to_asgi_response = Response.to_asgi_response  # type: ignore[assignment]


ROUTE_HEADERS = [None, {}, {"Vary": "Authorization"}, {"Vary": "Authorization", "X-Extra": "a b"}]


@pytest.mark.parametrize("headers", ROUTE_HEADERS)
@pytest.mark.parametrize("status_code", [None, 200, 201])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_a_schema_answer_is_the_asgi_response_litestar_makes(
    headers: dict[str, str] | None, status_code: int | None, data: st.DataObject
) -> None:
    """The response class makes a schema's (or page's) ASGI response itself: the same messages as Litestar's."""
    schema = data.draw(st.sampled_from(SCHEMAS))
    content = data.draw(
        instances(schema) | st.lists(instances(schema), max_size=2).map(lambda i: Page(i, 20, 0, 2, None))
    )
    made = []
    for response_class in (SchemaResponse, LitestarsOwn):
        response = response_class(content=content, media_type=MediaType.JSON, status_code=status_code)
        asgi = response.to_asgi_response(None, None, headers=headers, cookies=[])  # type: ignore[arg-type]
        made.append((await asgi_messages(asgi), asgi.headers.headers, asgi.content_length, asgi.status_code))
    assert made[0] == made[1]
    assert made[0][0][1]["body"] == to_json(content)


@pytest.mark.parametrize(
    "options",
    [
        {"headers": {"content-type": "application/problem+json"}},
        {"media_type": "application/vnd.api+json"},
        {"cookies": {"a": "b"}},
        {"background": None, "headers": None, "own_headers": {"X-Own": "1"}},
    ],
)
async def test_other_answers_take_litestars_path(options: dict[str, Any]) -> None:
    """Cookies, headers of the response's own, another media type or a route header naming the body's: Litestar's
    path, whatever the content."""
    content = PostRead.model_construct(
        id=1, title="t", body=None, author=None, tags=[], created_at=datetime(2026, 1, 1, tzinfo=UTC), updated_at=None
    )
    own = options.pop("own_headers", None)
    made = []
    for response_class in (SchemaResponse, LitestarsOwn):
        response = response_class(
            content=content, media_type=options.get("media_type"), cookies=options.get("cookies"), headers=own
        )
        asgi = response.to_asgi_response(  # type: ignore[arg-type]
            None, None, headers=options.get("headers"), type_encoders=APP.type_encoders
        )
        assert type(asgi) is ASGIResponse
        made.append((await asgi_messages(asgi), asgi.headers.headers))
    assert made[0] == made[1]
