"""Cursors and their scopes, byte for byte: a cursor made before a change to how they are built must read the same
and a new one must be the same text (clients keep cursors between pages, across deployments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from service.models import Role
from service.pages import Position, paging

SECRET = "s3cret" * 6
CASES: list[tuple[str, str, dict[str, Any], Position, bytes, str]] = [
    (
        "posts",
        "-created_at",
        {"author_id": None, "tag": None, "q": None, "search": None},
        Position(datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), 42),
        b'["posts","-created_at",[["author_id",null],["q",null],["search",null],["tag",null]]]',
        "WyIyMDI0LTA1LTA2VDA3OjA4OjA5LjEyMzQ1NiswMDowMCIsNDJd.J9wWAc46TrzFRBnw8oAYaQ",
    ),
    (
        "posts",
        "created_at",
        {"author_id": 7, "tag": 'café "x"', "q": "a\\b", "search": None},
        Position(datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2))), 3),
        b'["posts","created_at",[["author_id",7],["q","a\\\\b"],["search",null],["tag","caf\\u00e9 \\"x\\""]]]',
        "WyIyMDI0LTA1LTA2VDA3OjA4OjA5KzAyOjAwIiwzXQ.JjSOw2xycPU7_11wsm5qQg",
    ),
    (
        "posts",
        "id",
        {"author_id": None, "tag": None, "q": None},
        Position(None, 10**6),
        b'["posts","id",[["author_id",null],["q",null],["tag",null]]]',
        "W251bGwsMTAwMDAwMF0.etMwlLq4B1uX1TecCpA_jA",
    ),
    (
        "posts",
        "-rank",
        {"author_id": None, "tag": None, "q": None, "search": "running shoes"},
        Position(0.0607927, 9),
        b'["posts","-rank",[["author_id",null],["q",null],["search","running shoes"],["tag",null]]]',
        "WzAuMDYwNzkyNyw5XQ.FvbiM74xdNdqbJ_514J-tw",
    ),
    (
        "posts",
        "title",
        {"author_id": None, "tag": None, "q": None},
        Position('Ünïcode "quoted" \\ \x01 \u2028 title', 5),
        b'["posts","title",[["author_id",null],["q",null],["tag",null]]]',
        "WyLDnG7Dr2NvZGUgXCJxdW90ZWRcIiBcXCBcdTAwMDEg4oCoIHRpdGxlIiw1XQ.XiZcUKrHf3h_JnZRoezT5w",
    ),
    (
        "users",
        "name",
        {"role": Role.MEMBER, "q": None, "private": False},
        Position("Alice", 12),
        b'["users","name",[["private",false],["q",null],["role","member"]]]',
        "WyJBbGljZSIsMTJd.427GVWvn3O0YdfdiehQTEQ",
    ),
    (
        "users",
        "-name",
        {"role": None, "q": "ß", "private": True},
        Position("", -3),
        b'["users","-name",[["private",true],["q","\\u00df"],["role",null]]]',
        "WyIiLC0zXQ.X8_UCZDK-xo3jI9SQLCGhA",
    ),
    ("tags", "name", {}, Position("python", 1), b'["tags","name",[]]', "WyJweXRob24iLDFd.l53FH_VZ9JOJ0sTVbCeqwg"),
]


@pytest.mark.parametrize(("name", "order", "filters", "position", "scope", "cursor"), CASES)
def test_cursors_and_scopes_keep_their_bytes(
    name: str, order: str, filters: dict[str, Any], position: Position, scope: bytes, cursor: str
) -> None:
    page = paging(SECRET, name, 20, None, None, order, **filters)
    assert page.scope == scope
    assert page.cursor(position) == cursor
    again = paging(SECRET, name, 20, None, cursor, order, **filters)
    assert again.start == position
    assert again.offset is None


def test_a_cursor_of_other_filters_is_refused() -> None:
    from litestar.exceptions import ValidationException

    cursor = CASES[5][5]
    others: list[dict[str, Any]] = [
        {"role": Role.MEMBER, "q": None, "private": True},
        {"role": Role.MEMBER, "q": "", "private": False},
    ]
    for filters in others:
        with pytest.raises(ValidationException):
            paging(SECRET, "users", 20, None, cursor, "name", **filters)
    assert paging(SECRET, "users", 20, None, cursor, "name", role=Role.MEMBER, q=None, private=False).start


def test_scopes_differ_whenever_their_json_does() -> None:
    def scope(**filters: Any) -> bytes:
        return paging(SECRET, "posts", 20, None, None, "id", **filters).scope

    for _ in range(2):  # the second time from the kept scopes
        assert scope(flag=True) == b'["posts","id",[["flag",true]]]'
        assert scope(flag=1) == b'["posts","id",[["flag",1]]]'
        assert scope(x=0.0) == b'["posts","id",[["x",0.0]]]'
        assert scope(x=-0.0) == b'["posts","id",[["x",-0.0]]]'
        assert scope(role=Role.MEMBER) == scope(role="member") == b'["posts","id",[["role","member"]]]'
        assert scope(a=None, b="x") == scope(b="x", a=None) == b'["posts","id",[["a",null],["b","x"]]]'
        assert scope(ids=[1, 2]) == b'["posts","id",[["ids",[1,2]]]]'
    assert len({scope(q=str(n)) for n in range(3000)}) == 3000
