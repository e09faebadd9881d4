"""The app's response class: response schemas, and pages of them, are encoded by pydantic itself in one call.

Litestar's default path turns each schema instance into a dict (``model_dump``) and hands the dicts to msgspec;
``pydantic_core.to_json`` writes the same bytes (``tests/test_responses.py`` proves it on generated values of every
response schema) in one pass, several times faster for a page. Error bodies, health and the documents take
Litestar's path unchanged. ``render_json`` is also what ``If-Match`` renders a representation with, so the tag a
write compares is the tag a read carried.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response
from litestar.serialization import default_serializer
from litestar.types import Serializer
from pydantic import BaseModel
from pydantic_core import to_json

from service.pages import Page


def render_json(content: BaseModel | Page[Any]) -> bytes:
    """The JSON of a response schema or a page of them, as pydantic writes it."""
    return to_json(content)


class SchemaResponse(Response[Any]):
    """A Litestar response whose pydantic content (or page of it) is encoded by ``render_json``."""

    def render(self, content: Any, media_type: str, enc_hook: Serializer = default_serializer) -> bytes:
        if media_type == MediaType.JSON and isinstance(content, BaseModel | Page):
            return render_json(content)
        return super().render(content, media_type, enc_hook)
