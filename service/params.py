"""Query and path parameters shared by the controllers (ids, pages, free-text search), and the check of their raw
text that runs before Litestar converts them."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from litestar import Request
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Example
from litestar.params import ParameterKwarg, PathParameter, QueryParameter

from service.schemas import INT64_MAX, INT64_MIN, SingleLine

IN_DIGITS = "written in ASCII digits (an optional leading -, no leading zeros)"
ONE_LINE = f"^[^{SingleLine.forbidden}]*$"
"""The pattern of a one-line query string: no control characters, no line breaks (as ``SingleLine``)."""

Search = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        pattern=ONE_LINE,
        description="Case-insensitive substring to look for (one line, at most 200 characters)",
    ),
]

Words = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        pattern=ONE_LINE,
        description="Full-text search of titles and bodies: posts containing every word, in any form (searching"
        " running finds runs), most relevant first unless order says otherwise (one line, at most 200 characters)",
        examples=[Example(summary="Posts about running shoes, most relevant first", value="running shoes")],
    ),
]

TagFilter = Annotated[
    str | None,
    QueryParameter(max_length=200, pattern=ONE_LINE, description="Only posts with this tag"),
]


def id_parameter(what: str) -> Any:
    """A path id in the 64-bit range (outside it: 400; unknown: 404)."""
    return PathParameter(ge=INT64_MIN, le=INT64_MAX, description=f"{what} id, {IN_DIGITS}")


UserId = Annotated[int, id_parameter("The user's")]
PostId = Annotated[int, id_parameter("The post's")]

Limit = Annotated[int, QueryParameter(ge=1, le=100, description=f"Page size, 1..100, {IN_DIGITS}.")]
Offset = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=INT64_MAX,
        description=f"Rows to skip (0 when left out), {IN_DIGITS}; past the end gives an empty page. Not with cursor.",
        schema_extra={"minimum": 0},  # Litestar leaves a bound of 0 out of an optional parameter's schema
    ),
]

SORT_HELP = "Sort key; a leading - sorts descending (ties are broken by id)."


INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
"""How an integer is written in a path or a query: ASCII digits, no leading zeros, an optional leading minus."""
NOT_AN_INTEGER = "Input should be an integer written in ASCII digits (0-9, an optional leading -, no leading zeros)"

Check = Callable[[str], str | None]
"""A parameter's rule: the error message for a raw value, or None when the value is valid."""


def _integer(kwarg: ParameterKwarg) -> Check:
    def check(raw: str) -> str | None:
        if INTEGER.fullmatch(raw) is None:
            return NOT_AN_INTEGER
        # more digits than any bound has are out of range (and int() refuses strings of over 4300 digits)
        value = int(raw) if len(raw) <= 40 else (-1 if raw.startswith("-") else 1) * 10**40
        if kwarg.ge is not None and value < kwarg.ge:
            return f"Input should be greater than or equal to {kwarg.ge}"
        if kwarg.le is not None and value > kwarg.le:
            return f"Input should be less than or equal to {kwarg.le}"
        return None

    return check


def _string(kwarg: ParameterKwarg) -> Check:
    def check(raw: str) -> str | None:
        if kwarg.max_length is not None and len(raw) > kwarg.max_length:
            return f"String should have at most {kwarg.max_length} characters"
        if kwarg.min_length is not None and len(raw) < kwarg.min_length:
            return f"String should have at least {kwarg.min_length} characters"
        if kwarg.pattern == ONE_LINE:
            return SingleLine.problem(raw)
        if kwarg.pattern is not None and re.search(kwarg.pattern, raw) is None:
            return f"String should match pattern '{kwarg.pattern}'"
        return None

    return check


def _choice(values: list[str]) -> Check:
    quoted = [f"'{value}'" for value in values]
    expected = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    allowed = frozenset(values)
    return lambda raw: None if raw in allowed else f"Input should be {expected}"


def _check_for(annotation: Any, kwarg: ParameterKwarg) -> Check | None:
    """The rule of a parameter of type ``annotation`` (or ``annotation | None``) with ``kwarg``'s constraints; None
    for other types (such as the static files' path), which Litestar alone checks."""
    if get_origin(annotation) in (Union, UnionType):
        (annotation,) = [arg for arg in get_args(annotation) if arg is not NoneType]
    if annotation is int:
        return _integer(kwarg)
    if annotation is str:
        return _string(kwarg)
    if get_origin(annotation) is Literal:
        return _choice([str(value) for value in get_args(annotation)])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _choice([str(member.value) for member in annotation])
    return None


@dataclass(frozen=True, slots=True)
class ParameterRules:
    """A handler's query and path parameters (those declared with ``QueryParameter`` / ``PathParameter``)."""

    query: dict[str, Check]
    path: dict[str, Check]


_rules: dict[HTTPRouteHandler, ParameterRules] = {}


def parameter_rules(handler: HTTPRouteHandler) -> ParameterRules:
    """The rules of ``handler``'s parameters, made once per handler."""
    rules = _rules.get(handler)
    if rules is None:
        query, path = {}, {}
        for name, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            if not isinstance(kwarg, QueryParameter | PathParameter):
                continue
            check = _check_for(field.annotation, kwarg)
            if check is not None and isinstance(kwarg, QueryParameter):
                query[kwarg.query or name] = check
            elif check is not None:
                path[name] = check
        rules = _rules[handler] = ParameterRules(query, path)
    return rules


@functools.cache
def _path_parameter_positions(template: str) -> tuple[tuple[int, str], ...]:
    """Where each parameter of a route's path template (``{name}``, ``{name:type}``) is among its segments."""
    segments = template.split("/")
    return tuple(
        (index, match.group(1))
        for index, segment in enumerate(segments)
        if (match := re.fullmatch(r"\{(\w+)(?::\w+)?\}", segment))
    )


def parameter_problems(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    """``{key, message}`` for each query or path parameter of ``request`` whose raw text breaks its rule."""
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return []
    rules = parameter_rules(handler)
    problems = []
    if rules.path:
        segments = request.scope["path"].split("/")
        for index, name in _path_parameter_positions(request.scope["path_template"]):
            check = rules.path.get(name)
            if check is not None and index < len(segments) and (message := check(segments[index])):
                problems.append({"key": name, "message": message})
    if rules.query:
        query = request.query_params
        for name, check in rules.query.items():
            for raw in query.getall(name, []):
                if message := check(raw):
                    problems.append({"key": name, "message": message})
                    break
    return problems


def check_parameters(request: Request[Any, Any, Any]) -> None:
    """``before_request``: a 400 naming each query or path parameter that is not written as its rule says.

    Litestar converts parameters leniently: ``int()`` reads ``+1``, `` 1`` and ``\u0661`` (an Arabic-Indic one) as 1
    in a path, and a query's ``1.0`` or ``1e3`` as an integer. Checking the raw text first makes them what
    ``/users/abc`` is, and gives every parameter problem the wording of the body's (pydantic's).
    """
    if problems := parameter_problems(request):
        query = f"?{request.url.query}" if request.url.query else ""
        raise ValidationException(f"Validation failed for {request.method} {request.url.path}{query}", extra=problems)
