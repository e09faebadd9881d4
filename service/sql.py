"""Hand-written SQL for the hottest reads, run through the pool Tortoise manages.

Why: a read built by the ORM costs about a millisecond of CPU to assemble (pypika) and several statements to
eager-load its relations; the lists and details clients hit most are answered here by one prepared statement
each, with related rows fetched in the same statement (arrays, a scalar count). Everything else in the service,
and every write, goes through the models. The statements run on Tortoise's connection (or the current
transaction), so they share its pool, its bounded waits and timeouts, its statement counter and its SQL log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from tortoise import connections

T = TypeVar("T")


async def fetch(sql: str, *args: Any) -> list[Mapping[str, Any]]:
    """Rows of one parameterised statement ($1, $2, ... bound to ``args``)."""
    async with connections.get("default").acquire_connection() as connection:
        rows: list[Mapping[str, Any]] = await connection.fetch(sql, *args)
        return rows


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere, its ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def order_by(alias: str, key: str, columns: Sequence[str]) -> str:
    """``ORDER BY`` terms for a sort key such as ``-created_at``: ties broken by id, in the same direction."""
    column, direction = (key[1:], "DESC") if key.startswith("-") else (key, "ASC")
    if column not in columns:
        raise ValueError(f"cannot sort by {key!r}")
    if column == "id":
        return f"{alias}.id {direction}"
    return f"{alias}.{column} {direction}, {alias}.id {direction}"


def paged(count_sql: str, page_sql: str) -> str:
    """One statement for a page and its total: the count joined to the page, so an empty page still has it.

    ``page_sql`` must use ``$1`` for LIMIT and ``$2`` for OFFSET; rows of an empty page have NULL columns. An
    offset at or past the total skips the page query altogether (a one-time filter), instead of walking the
    index to the offset only to find nothing there.
    """
    return (
        f"SELECT c.*, page.* FROM ({count_sql}) c LEFT JOIN LATERAL"
        f" (SELECT * FROM ({page_sql} LIMIT $1 OFFSET $2) p WHERE $2 < c.total) page ON true"
    )


def counted(table: str, *, by_role: bool = False) -> str:
    """A one-row ``total`` read from ``row_counts`` (kept exact by triggers) instead of counting the table.

    With ``by_role`` the count of ``users:<$3>``. A missing counter row (after a TRUNCATE of the table) reads 0.
    """
    name = "'users:' || $3" if by_role else f"'{table}'"
    return f"SELECT coalesce((SELECT n FROM row_counts WHERE name = {name}), 0) AS total"


def shaped(schema: type[T], rows: Sequence[Mapping[str, Any]]) -> list[T]:
    """``rows`` built by a query in ``schema``'s exact shape, returned without building a model per row.

    The schema stays the declared response type (it generates the OpenAPI document); the tests pin every key of
    every response and the fuzz tests check responses against that document.
    """
    return cast(list[T], list(rows))


def shaped_one(schema: type[T], row: Mapping[str, Any]) -> T:
    """One row in ``schema``'s shape (see ``shaped``)."""
    return cast(T, row)
