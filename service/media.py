"""415 for a body in the wrong encoding (JSON for every endpoint that takes one, a form for the token endpoint);
400 for a missing JSON body.

Called by the app's ``before_request`` hook (``service/app.py``) after the parameter check; a handler without a body
returns at once.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg

from service.errors import EmptyBodyError, UnsupportedMediaTypeError


def _expected_media_type(handler: HTTPRouteHandler) -> str | None:
    """The body encoding a handler takes: JSON unless its ``data`` says otherwise; None without a body."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    kwarg = data.kwarg_definition
    if isinstance(kwarg, BodyKwarg):
        return RequestEncodingType(kwarg.media_type).value
    return RequestEncodingType.JSON.value


def _has_no_body(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers


async def require_declared_media_type(request: Request[Any, Any, Any]) -> None:
    """415 when a request's body is not in the encoding its endpoint takes (JSON, or the token endpoint's form)."""
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return
    expected = _expected_media_type(handler)
    if expected is None:
        return
    received = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    json_body = expected == RequestEncodingType.JSON
    if not received and _has_no_body(request):
        if json_body:
            raise EmptyBodyError
        return  # an empty form: validation reports the missing fields
    if received == expected or (json_body and received.endswith("+json")):
        if json_body and not (await request.body()).strip():
            raise EmptyBodyError
        return
    raise UnsupportedMediaTypeError(
        f"Unsupported Content-Type {received or '(none)'!r}: this endpoint takes {expected}"
    )
