"""What the outermost ASGI wrapper (``service.observability``) does to every exchange: headers, HEAD, disconnects.

Every response carries ``X-Content-Type-Options: nosniff``; responses that may carry a secret (the token
endpoint's, any answer to a request sending credentials) also ``Cache-Control: no-store`` and ``Pragma:
no-cache`` (RFC 6749 5.1); the docs pages refuse to be framed. The tuples are built once: a request picks one.
``HEAD`` is answered as ``GET`` without the body, so ``Allow`` lists it wherever it lists ``GET``. A client that
leaves before its request has arrived is marked in the request's state, so its request is logged as the client's
doing (499), not as a server error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Header = tuple[bytes, bytes]

NOSNIFF: Header = (b"x-content-type-options", b"nosniff")
NO_STORE: tuple[Header, ...] = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
NO_FRAMING: tuple[Header, ...] = (
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
)
SECRET_PATHS = frozenset({"/auth/token"})
"""Paths whose every answer may carry a credential (the token response, and its errors)."""
DOCS_PREFIXES = ("/docs", "/schema")
"""The docs pages (``/docs``, ``/schema/swagger``), their assets and the document."""

_PLAIN = (NOSNIFF,)
_SECRET = (NOSNIFF, *NO_STORE)
_DOCS = (NOSNIFF, *NO_FRAMING)
_ALLOW = b"allow"

CLIENT_DISCONNECTED = "client_disconnected"
"""Key the wrapper sets in the request's ``scope["state"]`` once the client has gone (``request.state``)."""


def security_headers(path: str, credentials: bool) -> tuple[Header, ...]:
    """The headers a response to ``path`` gets (``credentials``: the request sent an ``Authorization`` header)."""
    if credentials or path in SECRET_PATHS:
        return _SECRET
    if path.startswith(DOCS_PREFIXES):
        return _DOCS
    return _PLAIN


def allow_head(headers: list[Header]) -> None:
    """Make an ``Allow`` header list ``HEAD`` wherever it lists ``GET`` (in place; RFC 9110 9.3.2)."""
    for index, (name, value) in enumerate(headers):
        if name.lower() != _ALLOW:
            continue
        methods = [method.strip() for method in value.split(b",")]
        if b"GET" in methods and b"HEAD" not in methods:
            headers[index] = (name, b", ".join(sorted([*methods, b"HEAD"])))


def client_disconnected(scope: Mapping[str, Any]) -> bool:
    """Whether the client of this request disconnected before the application finished reading it."""
    state = scope.get("state")
    return bool(state and state.get(CLIENT_DISCONNECTED))
