"""The app's response class: response schemas, and pages of them, are encoded by pydantic itself in one call.

Litestar's default path turns each schema instance into a dict (``model_dump``) and hands the dicts to msgspec;
``pydantic_core.to_json`` writes the same bytes (``tests/test_responses.py`` proves it on generated values of every
response schema) in one pass, several times faster for a page. Error bodies, health and the documents take
Litestar's path unchanged. ``render_json`` is also what ``If-Match`` renders a representation with, so the tag a
write compares is the tag a read carried.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from litestar import MediaType, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.response.base import ASGIResponse
from litestar.serialization import default_serializer
from litestar.types import Serializer, TypeEncodersMap
from pydantic import BaseModel
from pydantic_core import to_json

from service.pages import Page

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures import Cookie

_JSON = MediaType.JSON.value
_JSON_BYTES = _JSON.encode()
_SET_BY_THE_BODY = frozenset({"content-type", "content-length"})


def render_json(content: BaseModel | Page[Any]) -> bytes:
    """The JSON of a response schema or a page of them, as pydantic writes it."""
    return to_json(content)


class EncodedResponse(ASGIResponse):
    """An ``ASGIResponse`` made from a body and its headers already encoded, as ``ASGIResponse(...)`` would encode
    them: the header list is handed on as it is instead of being added one header at a time."""

    __slots__ = ("encoded",)

    def __init__(
        self,
        body: bytes,
        encoded: list[tuple[bytes, bytes]],
        status_code: int,
        background: BackgroundTask | BackgroundTasks | None = None,
    ) -> None:
        self.body = body
        self.encoded = encoded
        self.status_code = status_code
        self.background = background
        self.content_length = len(body)
        self.encoding = "utf-8"
        self.is_head_response = False
        self.headers = MutableScopeHeaders({"headers": encoded})

    def encode_headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.encoded)


class SchemaResponse(Response[Any]):
    """A Litestar response whose pydantic content (or page of it) is encoded by ``render_json``.

    A handler's schema answer with nothing but the route's headers (no cookies, no headers of its own) is made into
    its ``ASGIResponse`` directly, with the body's ``Content-Type`` and ``Content-Length`` given among the headers:
    the same status, headers in the same order and body as ``Response.to_asgi_response`` gives
    (``tests/test_responses.py`` compares them), without merging empty header, cookie and encoder collections or
    looking for headers that are not there. Anything else takes Litestar's path.
    """

    def render(self, content: Any, media_type: str, enc_hook: Serializer = default_serializer) -> bytes:
        if media_type == MediaType.JSON and isinstance(content, BaseModel | Page):
            return render_json(content)
        return super().render(content, media_type, enc_hook)

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        content = self.content
        if (
            isinstance(content, BaseModel | Page)
            and app is None
            and encoded_headers is None
            and not self.headers
            and not self.cookies
            and not cookies
            and (self.media_type or media_type or _JSON) == _JSON
            and not (headers and any(name.lower() in _SET_BY_THE_BODY for name in headers))
        ):
            body = render_json(content)
            encoded = (
                [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
                if headers
                else []
            )
            encoded += ((b"content-type", _JSON_BYTES), (b"content-length", str(len(body)).encode()))
            return EncodedResponse(body, encoded, self.status_code or status_code or 200, self.background or background)
        return super().to_asgi_response(
            app,
            request,
            background=background,
            cookies=cookies,
            encoded_headers=encoded_headers,
            headers=headers,
            is_head_response=is_head_response,
            media_type=media_type,
            status_code=status_code,
            type_encoders=type_encoders,
        )
