"""The one place where exceptions become HTTP errors: JSON bodies, no stack traces, no SQL, no secrets."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError, ValidationError

from service.db.client import ConnectRefusedError
from service.edge import client_disconnected
from service.hashing import HashingBusyError
from service.params import INTEGER, NOT_AN_INTEGER

logger = logging.getLogger("service.errors")

_UNAVAILABLE = (
    ConnectRefusedError,  # PostgreSQL answered a new connection with an error (55000, 28P01, 3D000, ...)
    DBConnectionError,  # also an OSError
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, query canceled
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.TransactionRollbackError,  # a deadlock or serialization failure that outlived its retries
)


class UnsupportedMediaTypeError(HTTPException):
    """The body is not in the encoding the endpoint takes."""

    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE
    detail = "The body must be application/json (the token endpoint: application/x-www-form-urlencoded)"


class EmptyBodyError(HTTPException):
    """An endpoint that takes a JSON body got none."""

    status_code = HTTP_400_BAD_REQUEST
    detail = "The request body is missing: this endpoint takes a JSON object"


class ConflictError(HTTPException):
    """A unique value (such as an email) is taken."""

    status_code = HTTP_409_CONFLICT
    detail = "A user with this email already exists"


class RateLimitedError(HTTPException):
    """Too many attempts; retry after the number of seconds in Retry-After."""

    status_code = HTTP_429_TOO_MANY_REQUESTS
    detail = "Too many failed sign-in attempts; try again later"


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly"
UNSTORABLE = [{"key": "body", "message": "Input should be a value the database can store"}]
"""``extra`` of a value the input rules let through but the model or the database refuses (no details: they name
columns and constraints, not the client's fields)."""
CLIENT_CLOSED_REQUEST = 499
"""Logged (never sent: nobody is listening) when the client left before its request arrived whole."""


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The contract's error body."""

    status_code: int
    detail: str
    extra: list[dict[str, str]] | None = None


def documented_error(status_code: int, description: str) -> ResponseSpec:
    """An error answered by the framework or an exception handler rather than raised by a handler, for the
    OpenAPI document (``responses=``); errors a handler raises are documented by its ``raises=``."""
    example = Example(value={"status_code": status_code, "detail": description})
    return ResponseSpec(ErrorBody, description=description, generate_examples=False, examples=[example])


DATABASE_ERRORS = {503: documented_error(503, DATABASE_UNAVAILABLE)}
"""``responses=`` of any endpoint that uses the database."""
BODY_ERRORS = {413: documented_error(413, "The request body is larger than 1 MiB"), **DATABASE_ERRORS}
"""``responses=`` of any endpoint that takes a body and uses the database."""
JSON_WRITES: list[type[HTTPException]] = [UnsupportedMediaTypeError]
"""``raises=`` of any endpoint taking a body, besides its own codes (with ``responses=BODY_ERRORS``)."""
TOKEN_REQUIRED: list[type[HTTPException]] = [NotAuthorizedException]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


# SQLSTATE classes that mean "not now": 08 connection exception, 53 insufficient resources (too many connections,
# out of memory or disk), 57P operator intervention (shutting down, starting up, terminated).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means PostgreSQL cannot be reached or cannot serve right now.

    The one place that decides: asyncpg's connection errors and the SQLSTATE classes above, a refusal while
    connecting (``ConnectRefusedError``, e.g. 55000 "not currently accepting connections"), a closed connection,
    a timeout. Everything that is decided here is a 503, on ``/health`` and on the API.
    """
    for error in _chain(exc):
        if isinstance(error, _UNAVAILABLE):
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(error, asyncpg.InterfaceError) and "closed" in str(error):
            return True
        if isinstance(error, asyncpg.InternalClientError) and "another operation" in str(error):
            # a pooled connection whose session the server ended while it sat idle (pg_terminate_backend, an
            # administrator's shutdown): asyncpg reports the unsolicited error as a protocol state clash
            return True
    return False


def error_response(
    status_code: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    """The contract's error body: ``{"status_code", "detail"}`` and, when given, ``extra``."""
    content: dict[str, Any] = {"status_code": status_code, "detail": detail}
    if extra is not None:
        content["extra"] = extra
    return Response(content, status_code=status_code, headers=headers, media_type=MediaType.JSON)


def _any_segment(match: re.Match[str]) -> str:
    return f"(?P<{match.group(1)}>[^/]+)"


@functools.cache
def _integer_routes(paths: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    """For each route path with ``{name:int}`` parameters: a pattern that matches any value there, and the names."""
    routes = []
    for path in paths:
        names = tuple(re.findall(r"\{(\w+):int\}", path))
        if names:
            pattern = re.sub(r"\{(\w+):\w+\}", _any_segment, path)
            routes.append((re.compile(f"^{pattern}$"), names))
    return tuple(routes)


def _malformed_path_integers(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    """The integer path parameters of ``request``'s path that are not integers (the router's 404 for them)."""
    path = request.scope["path"]
    for pattern, names in _integer_routes(tuple(route.path for route in request.app.routes)):
        if match := pattern.match(path):
            return [
                {"key": name, "message": NOT_AN_INTEGER} for name in names if not INTEGER.fullmatch(match.group(name))
            ]
    return []


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (401, 403, 404, 405, 413, ...) in the contract's shape.

    A path whose integer parameter is not an integer (``/users/abc``) matches no route, so the router answers
    404; it gets the 400 an out-of-range integer gets, naming the parameter. A body that ends early because the
    client disconnected (Litestar's 500 "client disconnected prematurely") is the client's doing: logged as 499.
    """
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        if isinstance(exc, InternalServerException) and client_disconnected(request.scope):
            return error_response(CLIENT_CLOSED_REQUEST, "The client disconnected before its request arrived")
        return handle_unexpected(request, exc)
    if exc.status_code == HTTP_404_NOT_FOUND and (malformed := _malformed_path_integers(request)):
        detail = f"Validation failed for {request.method} {request.url.path}"
        return error_response(HTTP_400_BAD_REQUEST, detail, malformed)
    if isinstance(exc.__cause__, SerializationException):
        reason = str(exc.__cause__).removeprefix("JSON is malformed: ")
        return error_response(HTTP_400_BAD_REQUEST, f"Malformed JSON body: {reason}")
    return error_response(exc.status_code, exc.detail, exc.extra or None, exc.headers)


# pydantic names the member of a union it tried in an error's location (``email.function-after[_email(),
# constrained-str]``, ``email.none``): not part of the field's path as the client sent it.
_UNION_MEMBER = re.compile(r"^(?:[a-z][a-z-]*\[.*\]|none|str|int|bool|float|list|dict|constrained-[a-z]+)$")
_NONE_BRANCH = "Input should be None"


def _field_path(key: str) -> str:
    return ".".join(part for part in key.split(".") if not _UNION_MEMBER.match(part)) or "body"


def handle_validation_exception(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """A 400 whose ``extra`` lists each offending field or parameter under ``key``, with a ``message``.

    ``key`` is the field's path as the client sent it (``email``, ``posts.0.tags.3``), one entry per problem: an
    optional field that may be left out but not nulled fails both members of its union (the type, and None), and
    only the first is the problem. Each entry has exactly those two keys (Litestar adds a ``source`` to query and
    path problems, which the contract does not have: the key already names the parameter).
    """
    problems = exc.extra if isinstance(exc.extra, list) else []
    extra: list[dict[str, Any]] = []
    for problem in problems:
        if not isinstance(problem, dict):
            extra.append({"key": "body", "message": str(problem)})
            continue
        extra.append({"key": _field_path(str(problem.get("key") or "body")), "message": str(problem.get("message"))})
    real = [entry["key"] for entry in extra if entry.get("message") != _NONE_BRANCH]
    extra = [
        entry
        for entry in extra
        if entry.get("message") != _NONE_BRANCH
        or not any(key == entry["key"] or key.startswith(f"{entry['key']}.") for key in real)
    ]
    return error_response(HTTP_400_BAD_REQUEST, exc.detail, extra or [{"key": "body", "message": exc.detail}])


def handle_model_validation_error(_: Request[Any, Any, Any], exc: ValidationError) -> Response[dict[str, Any]]:
    """A value the model refuses (the input rules should have caught it first): a 400, not a 500."""
    logger.warning("a value passed the input rules but not the model: %s", exc)
    return error_response(HTTP_400_BAD_REQUEST, "A value in this request cannot be stored", UNSTORABLE)


def handle_integrity_error(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[dict[str, Any]]:
    """A write that broke a constraint: a duplicate is a 409, a vanished parent row a 404."""
    for error in _chain(exc):
        if isinstance(error, asyncpg.UniqueViolationError):
            return error_response(HTTP_409_CONFLICT, _conflict_detail(error))
        if isinstance(error, asyncpg.ForeignKeyViolationError):
            return error_response(HTTP_404_NOT_FOUND, "A resource this request refers to no longer exists")
    return handle_unexpected(request, exc)


def _conflict_detail(error: asyncpg.UniqueViolationError) -> str:
    constraint = error.constraint_name or ""
    if "email" in constraint:
        return "A user with this email already exists"
    return "This conflicts with an existing resource"


def handle_operational_error(request: Request[Any, Any, Any], exc: OperationalError) -> Response[dict[str, Any]]:
    """Database errors that are not constraint violations: unavailable (503), bad value (400), or ours (500)."""
    if database_unavailable(exc):
        return handle_database_unavailable(request, exc)
    if any(isinstance(error, asyncpg.DataError) for error in _chain(exc)):
        logger.warning("a value passed the input rules but not the database: %s", type(exc).__name__)
        return error_response(HTTP_400_BAD_REQUEST, "A value in this request cannot be stored", UNSTORABLE)
    return handle_unexpected(request, exc)


def handle_database_unavailable(request: Request[Any, Any, Any], exc: BaseException) -> Response[dict[str, Any]]:
    """PostgreSQL is down, overloaded or too slow: a 503 the client may retry."""
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    timed_out = any(isinstance(error, TimeoutError | asyncpg.QueryCanceledError) for error in _chain(exc))
    detail = "The database did not answer in time; try again shortly" if timed_out else DATABASE_UNAVAILABLE
    return error_response(HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "1"})


PASSWORDS_BUSY = "Too many password checks at once; try again in a moment"


def handle_hashing_busy(request: Request[Any, Any, Any], exc: HashingBusyError) -> Response[dict[str, Any]]:
    """No room for more password hashing in this process: refused at once, with a time to retry."""
    logger.info("password hashing at capacity on %s %s (%s)", request.method, request.url.path, exc.work.value)
    return error_response(HTTP_503_SERVICE_UNAVAILABLE, PASSWORDS_BUSY, headers={"Retry-After": "1"})


def _raised_decoding_the_body(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name in ("decode_json", "decode_msgpack"):
            return True
        frame = frame.tb_next
    return False


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Anything else: logged with its traceback here, a bare 500 for the client.

    A body nested so deeply that decoding it exhausts the recursion limit (``[[[[...]]]]``) is the client's
    error: a 400.
    """
    if database_unavailable(exc):
        return handle_database_unavailable(request, exc)
    if isinstance(exc, RecursionError) and _raised_decoding_the_body(exc):
        return error_response(HTTP_400_BAD_REQUEST, "Malformed JSON body: nested too deeply")
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


def json_not_found(response: Response[Any]) -> Response[Any]:
    """``after_request``: the HTML 404 page Litestar serves for unknown paths under ``/schema`` becomes JSON."""
    if response.status_code == HTTP_404_NOT_FOUND and response.media_type == MediaType.HTML:
        return error_response(HTTP_404_NOT_FOUND, "Not Found")
    return response


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: handle_validation_exception,
    HTTPException: handle_http_exception,
    ValidationError: handle_model_validation_error,
    IntegrityError: handle_integrity_error,
    OperationalError: handle_operational_error,
    DBConnectionError: handle_database_unavailable,
    HashingBusyError: handle_hashing_busy,
    Exception: handle_unexpected,
}
