"""The OpenAPI document's finishing touches: request bodies as their models validate them, exact integer bounds."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from typing import Any

from litestar import Litestar
from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPI, OpenAPIHeader, OpenAPIResponse, Operation, Parameter, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from service.conditional import NO_VALIDATORS
from service.idempotency import HEADER as IDEMPOTENCY_HEADER
from service.idempotency import IDEMPOTENT, KEY_PATTERN
from service.schemas import INT64_MAX, INT64_MIN

COMPONENT_REF = "#/components/schemas/{model}"
ETAG_HELP = "The version of this representation: send it back in If-None-Match (reads) or If-Match (writes)"
IF_NONE_MATCH_HELP = "ETags the client holds (or `*`): 304 with no body when one is still current"
IDEMPOTENCY_HELP = (
    "Makes a retry safe: the same key with the same body (from the same caller) within the key's lifetime gets the "
    "first success again, with `Idempotent-Replayed: true`, and nothing is created twice; another body is 422, a "
    "retry while the first is running 409. 1 to 255 printable ASCII characters."
)
NOT_MODIFIED_HELP = "The representation named by If-None-Match is still current: no body"


def finish_document(app: Litestar, closed: tuple[str, ...] = ()) -> None:
    """Everything the document needs after Litestar built it (in place); ``closed`` names response components
    that never carry a property they do not list."""
    describe_request_bodies(app.openapi_schema, request_body_models(app))
    exact_integer_bounds(app.openapi_schema)
    close_components(app.openapi_schema, closed)
    describe_validators(app.openapi_schema, {path for path, _ in operations_marked(app, NO_VALIDATORS)})
    describe_idempotency_keys(app.openapi_schema, operations_marked(app, IDEMPOTENT))


def operations_marked(app: Litestar, key: str) -> set[tuple[str, str]]:
    """``(path, method)`` of the document's operations whose handlers carry ``key`` in their ``opt``."""
    marked = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.opt.get(key):
                path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
                marked |= {(path, method.lower()) for method in handler.http_methods}
    return marked


def describe_idempotency_keys(document: OpenAPI, operations: set[tuple[str, str]]) -> None:
    """The ``Idempotency-Key`` header of the operations that take one, with its exact rule."""
    for path, method in operations:
        operation: Operation = getattr((document.paths or {})[path], method)
        operation.parameters = [
            *(operation.parameters or []),
            Parameter(
                name=IDEMPOTENCY_HEADER,
                param_in=ParamType.HEADER,
                schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=255, pattern=KEY_PATTERN),
                required=False,
                description=IDEMPOTENCY_HELP,
            ),
        ]


def describe_validators(document: OpenAPI, skipped: set[str]) -> None:
    """The ``ETag`` of every answer that carries a representation, and on reads ``If-None-Match`` and its 304."""
    etag = OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description=ETAG_HELP)
    for path, item in (document.paths or {}).items():
        if path in skipped:
            continue
        for method in ("get", "post", "patch", "put"):
            operation: Operation | None = getattr(item, method)
            if operation is None or operation.responses is None:
                continue
            for code in ("200", "201"):
                response = operation.responses.get(code)
                if isinstance(response, OpenAPIResponse):
                    response.headers = {**(response.headers or {}), "ETag": etag}
            if method == "get":
                operation.parameters = [
                    *(operation.parameters or []),
                    Parameter(
                        name="If-None-Match",
                        param_in=ParamType.HEADER,
                        schema=Schema(type=OpenAPIType.STRING),
                        required=False,
                        description=IF_NONE_MATCH_HELP,
                    ),
                ]
                operation.responses["304"] = OpenAPIResponse(description=NOT_MODIFIED_HELP, headers={"ETag": etag})


def close_components(document: OpenAPI, names: tuple[str, ...]) -> None:
    """``additionalProperties: false`` on the components ``names``: a response that is one of two shapes (a user
    with or without the email) then matches exactly one of them, as ``oneOf`` says."""
    components = document.components.schemas if document.components and document.components.schemas else {}
    for name in names:
        schema = components[name]
        if not isinstance(schema, Schema) or not schema.properties:
            raise LookupError(f"the OpenAPI document has no object component {name!r}")
        schema.additional_properties = False


def request_body_models(app: Litestar) -> list[type[BaseModel]]:
    """The pydantic models the app's handlers take as their body (their ``data`` parameter), each once."""
    models: list[type[BaseModel]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None and data.is_subclass_of(BaseModel) and data.annotation not in models:
                models.append(data.annotation)
    return models


class BodyJsonSchema(GenerateJsonSchema):
    """pydantic's JSON schema for a request body as the document shows it.

    Properties carry no generated ``title`` (the property name says it), and a field that may be left out but
    refuses ``null`` does not claim ``default: null``.
    """

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None and not _admits_null(json_schema):
            del json_schema["default"]
        return json_schema


def _admits_null(json_schema: JsonSchemaValue) -> bool:
    kind = json_schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_admits_null(branch) for key in ("anyOf", "oneOf") for branch in json_schema.get(key, ()))


def describe_request_bodies(document: OpenAPI, models: list[type[BaseModel]]) -> None:
    """Give each request body model's component (and the models nested in it) pydantic's own JSON schema.

    Litestar rebuilds a model's schema from its fields and loses rules on the way: the ``Annotated`` constraints
    of an optional field (``X | None``), every rule written as ``__get_pydantic_json_schema__`` (patterns that
    state the trimming and character rules), ``SkipJsonSchema[None]`` (``oneOf: [X, null]`` for a field that
    refuses null). pydantic's schema is generated from the validator itself, so the document states the rules the
    service enforces. Components that are not objects (enums) keep Litestar's rendering, which responses share.
    """
    components = document.components.schemas if document.components and document.components.schemas else None
    if components is None:
        raise LookupError("the OpenAPI document has no component schemas")
    for model in models:
        if model.__name__ not in components:
            raise LookupError(f"the OpenAPI document has no component {model.__name__!r} for a request body")
        json_schema = model.model_json_schema(ref_template=COMPONENT_REF, schema_generator=BodyJsonSchema)
        definitions: dict[str, JsonSchemaValue] = json_schema.pop("$defs", {})
        for name, definition in {**definitions, model.__name__: json_schema}.items():
            if "properties" in definition or name not in components:
                schema = schema_from_json(definition)
                if not isinstance(schema, Schema):
                    raise TypeError(f"{name}: a component must be a schema, not a reference")
                components[name] = schema


def _json_key(name: str, metadata: Any) -> str:
    alias = metadata.get("alias")
    if isinstance(alias, str):
        return alias
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_SCHEMA_FIELDS = {_json_key(field.name, field.metadata): field.name for field in fields(Schema) if field.init}
_ONE_SCHEMA = {"not", "if", "then", "else", "items", "contains", "propertyNames", "contentSchema"}
_ONE_SCHEMA |= {"unevaluatedItems", "unevaluatedProperties"}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SCHEMA_MAPS = {"properties", "patternProperties", "dependentSchemas"}
_REFERENCE_KEYS = {"$ref", "description", "summary"}


def schema_from_json(node: JsonSchemaValue) -> Schema | Reference:
    """Litestar's spec object for a JSON schema (a ``$ref`` becomes a Reference); unknown keywords are an error."""
    if "$ref" in node:
        if not set(node) <= _REFERENCE_KEYS:
            raise ValueError(f"a $ref with sibling keywords Litestar cannot render: {sorted(set(node))}")
        return Reference(ref=node["$ref"], description=node.get("description"), summary=node.get("summary"))
    values: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _SCHEMA_FIELDS:
            raise ValueError(f"a JSON schema keyword Litestar's Schema has no field for: {key!r}")
        if key in _ONE_SCHEMA or (key == "additionalProperties" and isinstance(value, dict)):
            value = schema_from_json(value)
        elif key in _SCHEMA_LISTS:
            value = [schema_from_json(item) for item in value]
        elif key in _SCHEMA_MAPS:
            value = {name: schema_from_json(item) for name, item in value.items()}
        elif key == "type":
            value = [OpenAPIType(item) for item in value] if isinstance(value, list) else OpenAPIType(value)
        elif key == "format":
            value = OpenAPIFormat(value)
        values[_SCHEMA_FIELDS[key]] = value
    return Schema(**values)


def exact_integer_bounds(document: Any) -> None:
    """Give the OpenAPI document's integer bounds as exact integers (in place).

    Litestar stores ``minimum``/``maximum`` as floats, so a 64-bit id's bound reads ``9.223372036854776e18``: a
    generated client or a fuzzer takes that for ``9223372036854775808`` and sends a value the service refuses. Every
    integral bound becomes an int, and the rounded 64-bit extremes become the exact ones the service enforces.
    """
    exact = {float(INT64_MAX): INT64_MAX, float(INT64_MIN): INT64_MIN}

    def visit(node: Any) -> None:
        if isinstance(node, Schema):
            for name in ("minimum", "maximum", "exclusive_minimum", "exclusive_maximum"):
                bound = getattr(node, name)
                if isinstance(bound, float) and bound.is_integer():
                    setattr(node, name, exact.get(bound, int(bound)))
        if isinstance(node, list | tuple):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            for item in node.values():
                visit(item)
        elif is_dataclass(node) and not isinstance(node, type):
            for item in fields(node):
                visit(getattr(node, item.name))

    visit(document)
