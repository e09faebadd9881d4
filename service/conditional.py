"""HTTP validators (RFC 9110 8.8 and 13): entity tags on every representation, 304 for a current ``If-None-Match``,
412 for a stale ``If-Match`` (checked in the write's own transaction), 428 when ``If-Match`` is required.

The reads of users and posts (one, or a page) tag their answer from the versions of the rows it is built from
(``service.versions``) before building it: ``offer(tag)`` records the tag for the answer, and when the request's
``If-None-Match`` names it raises ``NotModifiedError``, answered with a bodiless 304 without building the
representation. Any other representation is tagged with a digest of its bytes. Either way the tag changes whenever
anything shown changes, a related row included (an author's new name in a post, a post's tags, a user's recent
posts), and two processes or replicas compute the same tag for the same representation. A write recomputes the
current tag the way its read does, from the rows it locked, under the lock it writes under: the check and the
write are one step.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Annotated, Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.params import HeaderParameter
from litestar.status_codes import (
    HTTP_304_NOT_MODIFIED,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_428_PRECONDITION_REQUIRED,
)
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send
from pydantic import BaseModel

from service.responses import render_json

TAGGED_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "PUT"})
"""Methods whose 200/201 answer carries a representation, hence an ``ETag``."""
READ_METHODS = frozenset({"GET", "HEAD"})
READ_CACHE_CONTROL = b"no-cache"
"""Reads may be stored by caches, which must revalidate them (``If-None-Match``) before each use."""
REQUIRE_IF_MATCH = "require_if_match"
"""The app state key of ``REQUIRE_IF_MATCH``."""
NO_VALIDATORS = "no_validators"
"""A route handler ``opt`` key: its answers get no ``ETag`` (``/health``: a state, not a representation)."""
# Headers a 304 keeps (RFC 9110 15.4.5); the others describe a body it does not have.
_KEPT_BY_304 = frozenset({b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary"})


def entity_tag(body: bytes) -> str:
    """A strong entity tag for a representation's bytes."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def listed(header: str, tag: str | None, *, weak: bool) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` value names ``tag`` (``*`` names any current representation;
    ``weak`` ignores the ``W/`` prefix, as ``If-None-Match`` does, while ``If-Match`` compares strongly)."""
    if tag is None:
        return False
    if header.strip() == "*":
        return True
    candidates = (candidate.strip() for candidate in header.split(","))
    if weak:
        return any(_opaque(candidate) == tag for candidate in candidates)
    return tag in candidates


class Validation:
    """One request's validators: the ``If-None-Match`` of a read (None otherwise) and the tag its answer carries,
    when the handler knew it before building the answer (``offer``)."""

    __slots__ = ("if_none_match", "tag")

    def __init__(self, if_none_match: str | None) -> None:
        self.if_none_match = if_none_match
        self.tag: str | None = None


_validation: ContextVar[Validation | None] = ContextVar("validation", default=None)


class NotModifiedError(Exception):
    """The read's ``If-None-Match`` names the current representation: answered 304, the representation unbuilt."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


def offer(tag: str) -> None:
    """Record ``tag`` as the tag of this request's answer, built next from the rows it was computed from; raise
    ``NotModifiedError`` when the request is a read whose ``If-None-Match`` names it. Outside a request (or in
    one whose answer gets no validators) this does nothing."""
    validation = _validation.get()
    if validation is None:
        return
    validation.tag = tag
    if validation.if_none_match is not None and listed(validation.if_none_match, tag, weak=True):
        raise NotModifiedError(tag)


def handle_not_modified(request: Request[Any, Any, Any], exc: NotModifiedError) -> Response[None]:
    """The 304 of a read that was not built: the tag, and the headers the route gives its answers (``Vary``);
    ``conditional_requests`` adds ``Cache-Control`` as on the 200 and keeps only what a 304 may carry."""
    return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers={**_route_headers(request), "ETag": exc.tag})


_ROUTE_HEADERS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def _route_headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The headers the request's route gives its answers, read once per route handler."""
    handler = request.route_handler
    headers = _ROUTE_HEADERS.get(handler)
    if headers is None:
        resolved = handler.resolve_response_headers()
        headers = {header.name: header.value for header in resolved if header.value and not header.documentation_only}
        _ROUTE_HEADERS[handler] = headers
    return headers


class PreconditionFailedError(HTTPException):
    """``If-Match`` names no current representation: somebody else changed it since the client read it."""

    status_code = HTTP_412_PRECONDITION_FAILED
    detail = "The resource has changed since it was read (If-Match names an older version); read it again"


class PreconditionRequiredError(HTTPException):
    """``If-Match`` is required (``REQUIRE_IF_MATCH``) and was not sent."""

    status_code = HTTP_428_PRECONDITION_REQUIRED
    detail = "This write needs an If-Match header with the ETag of the version it changes (REQUIRE_IF_MATCH)"


class IfMatch:
    """The request's ``If-Match`` condition, checked by the write against the representation it locked.

    The current tag is computed as the read computes it (from the locked rows' versions, or from the representation
    rendered as responses render it), so the tag compared is the one a read of it carried.
    """

    __slots__ = ("header",)

    def __init__(self, header: str | None) -> None:
        self.header = header

    def check(self, current: str | BaseModel | None) -> None:
        """PreconditionFailedError unless ``current`` satisfies the condition: the current tag (as its read computes
        it), or the current representation (tagged by its bytes), or None (no such resource)."""
        if self.header is None:
            return
        tag = current if isinstance(current, str) or current is None else entity_tag(render_json(current))
        if not listed(self.header, tag, weak=False):
            raise PreconditionFailedError(headers={"ETag": tag} if tag else None)

    async def check_current(self, read: Callable[[], Awaitable[str | BaseModel | None]]) -> None:
        """Check against the tag (or representation) ``read`` gives, which it reads only when a condition was
        sent."""
        if self.header is not None:
            self.check(await read())


PRECONDITIONS: list[type[HTTPException]] = [PreconditionFailedError, PreconditionRequiredError]
"""``raises=`` of every write that honours ``If-Match``."""
NO_CONDITION = IfMatch(None)
"""No ``If-Match``: writes proceed as they always did."""


IfMatchCondition = NamedDependency[IfMatch]
"""``if_match``: the request's ``If-Match`` condition, for the write to check under its lock."""


async def provide_if_match(
    request: Request[Any, Any, Any],
    header: Annotated[
        str | None,
        HeaderParameter(
            name="If-Match",
            description="Write only if the resource is still this version: an `ETag` from a read, a list of them, "
            "or `*` (any). 412 otherwise.",
        ),
    ] = None,
) -> IfMatch:
    """``if_match``: the write's precondition; 428 when ``REQUIRE_IF_MATCH`` is on and the header is absent."""
    if header is None:
        if request.app.state.get(REQUIRE_IF_MATCH, False):
            raise PreconditionRequiredError()
        return NO_CONDITION
    return IfMatch(header)


def conditional_requests(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: an ``ETag`` on every 200/201 answer carrying a representation, ``Cache-Control: no-cache``
    on anonymous reads that set none, and a bodiless 304 for a read whose ``If-None-Match`` names the current tag
    (raised by ``offer`` before the representation is built, or found by digesting the built one)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        method = scope["method"]
        if method not in TAGGED_METHODS or (handler is not None and handler.opt.get(NO_VALIDATORS)):
            await app(scope, receive, send)
            return
        read = method in READ_METHODS
        credentials = False
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                credentials = True
            elif name == b"if-none-match" and if_none_match is None and read:
                if_none_match = value.decode("latin-1")
        # An answer to a request with credentials gets ``no-store`` from the outermost wrapper (service/edge.py).
        tagging = _Tagging(send, Validation(if_none_match), read and not credentials)
        token = _validation.set(tagging.validation)
        try:
            await app(scope, receive, tagging.send)
        finally:
            _validation.reset(token)

    return middleware


class _Tagging:
    """One answer passing through ``conditional_requests``: tagged as it starts when its tag was offered, else held
    until its bytes are all there and tagged by their digest."""

    __slots__ = ("cacheable", "chunks", "forward", "held", "validation")

    def __init__(self, send: Send, validation: Validation, cacheable: bool) -> None:
        self.forward = send
        self.validation = validation
        self.cacheable = cacheable
        self.held: HTTPResponseStartEvent | None = None
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            tag = self.validation.tag
            if status == HTTP_304_NOT_MODIFIED and tag is not None:  # NotModifiedError's answer
                await self.forward(_not_modified(message, self.cacheable))
                return
            if status in (200, 201):
                if tag is None:  # tagged by its bytes once they are all there
                    self.held = message
                    return
                message = _tagged(message, tag, self.cacheable)
        elif message["type"] == "http.response.body" and self.held is not None:
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(self.chunks)
                await _send_tagged(self.forward, self.held, body, self.cacheable, self.validation.if_none_match)
            return
        await self.forward(message)


def request_header(scope: Scope, wanted: bytes) -> str | None:
    """The first value of the request header ``wanted`` (a lower-case name), or None."""
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


def _tagged(start: HTTPResponseStartEvent, tag: str, cacheable: bool) -> HTTPResponseStartEvent:
    headers = []
    cache_control = not cacheable
    for header in start["headers"]:
        name = header[0]
        if name == b"etag":
            continue
        if name == b"cache-control":
            cache_control = True
        headers.append(header)
    headers.append((b"etag", tag.encode()))
    if not cache_control:
        headers.append((b"cache-control", READ_CACHE_CONTROL))
    return {"type": "http.response.start", "status": start["status"], "headers": headers}


def _not_modified(start: HTTPResponseStartEvent, cacheable: bool) -> HTTPResponseStartEvent:
    """A 304's start from a tagged answer's (``handle_not_modified``'s, or a 200 tagged by its bytes): what a 304
    may carry, and the read's ``Cache-Control``."""
    headers = [(name, value) for name, value in start["headers"] if name in _KEPT_BY_304]
    if cacheable and not any(name == b"cache-control" for name, _ in headers):
        headers.append((b"cache-control", READ_CACHE_CONTROL))
    return {"type": "http.response.start", "status": HTTP_304_NOT_MODIFIED, "headers": headers}


async def _send_tagged(
    send: Send, start: HTTPResponseStartEvent, body: bytes, cacheable: bool, if_none_match: str | None
) -> None:
    tag = entity_tag(body)
    tagged = _tagged(start, tag, cacheable)
    if if_none_match is not None and listed(if_none_match, tag, weak=True):
        await send(_not_modified(tagged, cacheable))
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send(tagged)
    await send({"type": "http.response.body", "body": body, "more_body": False})
