"""The app's response class: response schemas are encoded by pydantic-core, in one pass.

Litestar's default path turns each pydantic model into a dict (``model_dump``) and hands the dicts to msgspec;
for a page of posts that is most of the cost of the response. ``pydantic_core.to_json`` encodes the models (and
the ``OffsetPagination`` around them) directly, into the same JSON: the same keys in the same order, the same
timestamp format. Everything else (error bodies, health) takes Litestar's path unchanged.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response
from litestar.pagination import OffsetPagination
from litestar.serialization import default_serializer
from litestar.types import Serializer
from pydantic import BaseModel
from pydantic_core import to_json


class SchemaResponse(Response[Any]):
    """A Litestar response whose pydantic content (or page of it) is encoded by pydantic-core."""

    def render(self, content: Any, media_type: str, enc_hook: Serializer = default_serializer) -> bytes:
        if media_type == MediaType.JSON and isinstance(content, BaseModel | OffsetPagination):
            return to_json(content)
        return super().render(content, media_type, enc_hook)
