"""HTTP validators (RFC 9110 8.8 and 13): entity tags on every representation, 304 for a current ``If-None-Match``,
412 for a stale ``If-Match`` (checked in the write's own transaction), 428 when ``If-Match`` is required.

An entity tag is a digest of the representation's bytes, so it changes whenever anything shown changes, a related
row included (an author's new name in a post, a post's tags, a user's recent posts), and two processes or
replicas compute the same tag for the same representation. A write recomputes the current tag from the
representation it reads under the row lock it writes under: the check and the write are one step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_412_PRECONDITION_FAILED, HTTP_428_PRECONDITION_REQUIRED
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

    The current representation is rendered as responses render it (``render_json``), so the tag compared is the
    one a read of it carried.
    """

    __slots__ = ("header",)

    def __init__(self, header: str | None) -> None:
        self.header = header

    def check(self, current: BaseModel | None) -> None:
        """PreconditionFailedError unless ``current`` (None: no such resource) satisfies the condition."""
        if self.header is None:
            return
        tag = None if current is None else entity_tag(render_json(current))
        if not listed(self.header, tag, weak=False):
            raise PreconditionFailedError(headers={"ETag": tag} if tag else None)

    async def check_current(self, read: Callable[[], Awaitable[BaseModel | None]]) -> None:
        """Check against the representation ``read`` builds, which it builds only when a condition was sent."""
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
    on anonymous reads that set none, and a bodiless 304 for a read whose ``If-None-Match`` names the current tag."""

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
        # An answer to a request with credentials gets ``no-store`` from the outermost wrapper (service/edge.py).
        cacheable = read and request_header(scope, b"authorization") is None
        held: list[HTTPResponseStartEvent] = []
        chunks: list[bytes] = []

        async def tagging_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 201):
                held.append(message)
                return
            if message["type"] != "http.response.body" or not held:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            condition = request_header(scope, b"if-none-match") if read else None
            await _send_tagged(send, held[0], b"".join(chunks), cacheable, condition)

        await app(scope, receive, tagging_send)

    return middleware


def request_header(scope: Scope, wanted: bytes) -> str | None:
    """The first value of the request header ``wanted`` (a lower-case name), or None."""
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


async def _send_tagged(
    send: Send, start: HTTPResponseStartEvent, body: bytes, cacheable: bool, if_none_match: str | None
) -> None:
    tag = entity_tag(body)
    headers = [(name, value) for name, value in start["headers"] if name != b"etag"]
    headers.append((b"etag", tag.encode()))
    if cacheable and not any(name == b"cache-control" for name, _ in headers):
        headers.append((b"cache-control", READ_CACHE_CONTROL))
    if if_none_match is not None and listed(if_none_match, tag, weak=True):
        kept = [(name, value) for name, value in headers if name in _KEPT_BY_304]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({"type": "http.response.start", "status": start["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
