"""Pages of a list: offset pages (with the total) and cursor pages, where a cursor is a signed position after the
last row of a page, valid only for the list, filters and order that made it."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from tortoise.expressions import Q

T = TypeVar("T")
SortValue = str | datetime | float
"""A row's value in a sort column other than id (``created_at``, ``title``, ``name``; ``rank``, a search's
relevance)."""

CURSOR_LENGTH = 2048
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=CURSOR_LENGTH,
        pattern=CURSOR_PATTERN,
        description="The ``next_cursor`` of the previous page, with the same filters and order (not with ``offset``)",
    ),
]


@dataclass
class Page(Generic[T]):
    """A page of a list. ``total`` is how many rows match (null on a page asked for by cursor, which skips the count);
    ``offset`` is null on a cursor page; ``next_cursor`` asks for the page after this one (null on the last page)."""

    items: list[T]
    limit: int
    offset: int | None
    total: int | None
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a cursor page starts: after the row with this sort value (None when sorting by id) and this id."""

    value: SortValue | None
    id: int


def sort_column(order: str) -> str:
    """The column of a sort key such as ``-created_at``."""
    return order.removeprefix("-")


def after(order: str, value: SortValue | None, last_id: int) -> Q:
    """The rows after ``(value, last_id)`` in ``order`` (ties broken by id in the same direction).

    Written ``column >= value AND (column > value OR id > last_id)`` (the comparisons flipped when descending) so
    that PostgreSQL starts its index scan of ``(column, id)`` at the position instead of filtering from the top.
    """
    column, op = sort_column(order), ("lt" if order.startswith("-") else "gt")
    past_id: dict[str, Any] = {f"id__{op}": last_id}
    if column == "id":
        return Q(**past_id)
    from_value: dict[str, Any] = {f"{column}__{op}e": value}
    past_value: dict[str, Any] = {f"{column}__{op}": value}
    return Q(**from_value) & (Q(**past_value) | Q(**past_id))


_PAYLOAD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""How a cursor's ``[value, id]`` is written (one encoder for every cursor, not one per ``json.dumps`` call)."""
_SCOPE = json.JSONEncoder(separators=(",", ":"), default=str)
"""How a page's list, order and filters are written for its cursors' signature."""


_scopes: dict[tuple[Any, ...], bytes] = {}
_SCOPES_KEPT = 1024
_EXACT = frozenset({type(None), str, int, bool})
"""Types whose equal values always write the same JSON (not float: ``0.0 == -0.0``), so a scope can be cached by
its values (and their types: ``1 == True``)."""


def _scope(name: str, order: str, filters: Mapping[str, Any]) -> bytes:
    """The bytes a page's cursors sign for (list, order and filters); the same list, order and filters come back
    page after page, so the text is kept (up to ``_SCOPES_KEPT`` of them) rather than written each time."""
    types = tuple(map(type, filters.values()))
    key = (name, order, *filters.items(), *types)
    try:
        scope = _scopes.get(key)
    except TypeError:  # a value that cannot be a key (none of the lists' filters)
        return _SCOPE.encode([name, order, sorted(filters.items())]).encode()
    if scope is None:
        scope = _SCOPE.encode([name, order, sorted(filters.items())]).encode()
        if all(kind in _EXACT or issubclass(kind, StrEnum) for kind in types):
            if len(_scopes) >= _SCOPES_KEPT:
                _scopes.clear()
            _scopes[key] = scope
    return scope


def _payload(value: SortValue | None, last_id: int) -> bytes:
    """``[value, last_id]`` as compact JSON: written directly for an id or a time (no character there needs
    escaping, so the text is the encoder's), through the encoder for text and relevance."""
    if value is None:
        return b"[null,%d]" % last_id
    if isinstance(value, datetime):
        return b'["%s",%d]' % (value.isoformat().encode("ascii"), last_id)
    return _PAYLOAD.encode([value, last_id]).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``, which must be their one spelling (ValueError otherwise: the
    unused low bits of the last character would let one cursor be written several ways)."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def _refused(message: str) -> ValidationException:
    return ValidationException("Invalid cursor", extra=[{"key": "cursor", "message": message}])


@dataclass(frozen=True, slots=True)
class Paging:
    """One request's page: its limit, its offset (None with a cursor), where a cursor page starts, and how to sign
    the next page's cursor."""

    limit: int
    offset: int | None
    start: Position | None
    order: str
    scope: bytes
    secret: bytes

    def cursor(self, position: Position) -> str:
        payload = _payload(position.value, position.id)
        return f"{_b64(payload)}.{_b64(self._signature(payload))}"

    def _signature(self, payload: bytes) -> bytes:
        return hmac.digest(self.secret, self.scope + b"\0" + payload, "sha256")[:16]

    def read(self, cursor: str) -> Position:
        """The position a cursor names; a 400 for one that was not made by this list with these filters and order."""
        payload_text, _, signature_text = cursor.partition(".")
        try:
            payload, signature = _unb64(payload_text), _unb64(signature_text)
        except (binascii.Error, ValueError):
            raise _refused("Not a cursor of this service") from None
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise _refused("Not a cursor of this list with these filters and this order")
        value, last_id = json.loads(payload)
        column = sort_column(self.order)
        if column == "created_at":
            value = datetime.fromisoformat(value)
        elif column == "rank":
            value = float(value)
        return Position(None if column == "id" else value, int(last_id))

    def page(self, items: Sequence[T], total: int | None, more: bool, last: Any = None) -> Page[T]:
        """The response for ``items`` (at most ``limit``); ``more`` when a row follows the last one, whose sort value
        and id are read off ``last`` (by default the last item)."""
        next_cursor = None
        if more and items:
            last = items[-1] if last is None else last
            column = sort_column(self.order)
            next_cursor = self.cursor(Position(None if column == "id" else getattr(last, column), last.id))
        return Page(list(items), self.limit, self.offset, total, next_cursor)


def paging(
    secret: str, name: str, limit: int, offset: int | None, cursor: str | None, order: str, **filters: Any
) -> Paging:
    """The page a list request asks for. With ``cursor``, ``offset`` is refused (400), and so is a cursor of
    another list, other filters or another order. ``filters`` are the values that decide which rows match."""
    if cursor is not None and offset is not None:
        raise ValidationException(
            "Invalid page", extra=[{"key": "offset", "message": "offset cannot be combined with cursor"}]
        )
    scope = _scope(name, order, filters)
    current = Paging(limit, None if cursor is not None else offset or 0, None, order, scope, secret.encode())
    if cursor is None:
        return current
    return Paging(limit, None, current.read(cursor), order, scope, current.secret)


def split(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """A page read with ``limit + 1`` rows: the page, and whether a row follows it."""
    return list(rows[:limit]), len(rows) > limit


def start_values(start: Position | None) -> Mapping[str, Any]:
    """The ``after_value`` and ``after_id`` a compiled page takes for ``start``."""
    if start is None:
        return {"after_value": None, "after_id": None}
    return {"after_value": start.value, "after_id": start.id}
