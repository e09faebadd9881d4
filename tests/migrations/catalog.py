"""The live schema read from PostgreSQL's catalog, a readable diff of two schemas, and sample rows for any table."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

BOOKKEEPING_TABLE = "aerich"

_CONSTRAINT_KINDS = {
    "p": "PRIMARY KEY",
    "u": "UNIQUE",
    "f": "FOREIGN KEY",
    "c": "CHECK",
    "x": "EXCLUDE",
    "n": "NOT NULL",
    "t": "TRIGGER",
}


@dataclass(frozen=True)
class Table:
    """One table: its comment, columns, indexes, constraints and triggers, each keyed by name."""

    comment: str | None = None
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Schema:
    """The ``public`` schema: tables, plus objects that live beside them (sequences, views, types, functions)."""

    tables: dict[str, Table] = field(default_factory=dict)
    others: dict[str, str] = field(default_factory=dict)

    def only(self, names: set[str]) -> Schema:
        """This schema restricted to the tables in ``names`` (and the sequences they own)."""
        owners = {f"owned by {name}." for name in names}
        return Schema(
            tables={name: table for name, table in self.tables.items() if name in names},
            others={k: v for k, v in self.others.items() if any(v.startswith(owner) for owner in owners)},
        )

    @property
    def data_tables(self) -> set[str]:
        """The tables the service owns (all but aerich's bookkeeping table)."""
        return set(self.tables) - {BOOKKEEPING_TABLE}


async def read_schema(url: str) -> Schema:
    """Everything in the ``public`` schema that a migration can create, alter or drop."""
    connection = await asyncpg.connect(url)
    try:
        return await _read_schema(connection)
    finally:
        await connection.close()


async def _read_schema(connection: asyncpg.Connection) -> Schema:
    tables: dict[str, Table] = {}
    for row in await connection.fetch(
        """SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"""
    ):
        tables[row["relname"]] = Table(comment=row["comment"])
    for row in await connection.fetch(
        """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text AS attidentity,
                  a.attgenerated::text AS attgenerated,
                  col_description(c.oid, a.attnum) AS comment
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"""
    ):
        tables[row["relname"]].columns[row["attname"]] = {
            "type": row["type"],
            "nullable": not row["attnotnull"],
            "default": row["default"],
            "identity": row["attidentity"] or None,
            "generated": row["attgenerated"] or None,
            "comment": row["comment"],
        }
    for row in await connection.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    ):
        if row["tablename"] in tables:
            tables[row["tablename"]].indexes[row["indexname"]] = row["indexdef"]
    for row in await connection.fetch(
        """SELECT c.relname, con.conname, con.contype::text AS contype, pg_get_constraintdef(con.oid) AS definition
           FROM pg_constraint con
           JOIN pg_class c ON c.oid = con.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public'"""
    ):
        if row["relname"] in tables:
            kind = _CONSTRAINT_KINDS.get(row["contype"], row["contype"])
            tables[row["relname"]].constraints[row["conname"]] = f"{kind}: {row['definition']}"
    for row in await connection.fetch(
        """SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) AS definition
           FROM pg_trigger t
           JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND NOT t.tgisinternal"""
    ):
        tables[row["relname"]].triggers[row["tgname"]] = row["definition"]

    others: dict[str, str] = {}
    for row in await connection.fetch(
        """SELECT s.relname,
                  (SELECT t.relname || '.' || a.attname
                   FROM pg_depend d
                   JOIN pg_class t ON t.oid = d.refobjid
                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')
                   LIMIT 1) AS owner
           FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
           WHERE n.nspname = 'public' AND s.relkind = 'S'"""
    ):
        others[f"sequence {row['relname']}"] = f"owned by {row['owner']}" if row["owner"] else "not owned"
    for row in await connection.fetch(
        """SELECT c.relname, c.relkind, pg_get_viewdef(c.oid) AS definition
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"""
    ):
        others[f"view {row['relname']}"] = row["definition"]
    for row in await connection.fetch(
        """SELECT t.typname, t.typtype::text AS typtype,
                  array(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')"""
    ):
        others[f"type {row['typname']}"] = f"{row['typtype']}: {list(row['labels'])}"
    for row in await connection.fetch(
        """SELECT p.oid::regprocedure::text AS signature, md5(pg_get_functiondef(p.oid)) AS digest
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')"""
    ):
        others[f"function {row['signature']}"] = f"definition md5 {row['digest']}"
    return Schema(tables=tables, others=others)


def schema_diff(expected: Schema, actual: Schema) -> list[str]:
    """One line per difference, naming the table and the column, index, constraint or trigger."""
    lines: list[str] = []
    for name in sorted(expected.tables.keys() - actual.tables.keys()):
        lines.append(f"table {name}: missing")
    for name in sorted(actual.tables.keys() - expected.tables.keys()):
        lines.append(f"table {name}: unexpected (columns {sorted(actual.tables[name].columns)})")
    for name in sorted(expected.tables.keys() & actual.tables.keys()):
        want, got = expected.tables[name], actual.tables[name]
        if want.comment != got.comment:
            lines.append(f"table {name}: comment {want.comment!r} expected, found {got.comment!r}")
        for kind, want_items, got_items in (
            ("column", want.columns, got.columns),
            ("index", want.indexes, got.indexes),
            ("constraint", want.constraints, got.constraints),
            ("trigger", want.triggers, got.triggers),
        ):
            lines.extend(_mapping_diff(f"table {name} {kind}", want_items, got_items))
    lines.extend(_mapping_diff("object", expected.others, actual.others))
    return lines


def _mapping_diff(label: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(expected.keys() | actual.keys()):
        if key not in actual:
            lines.append(f"{label} {key}: missing (expected {expected[key]})")
        elif key not in expected:
            lines.append(f"{label} {key}: unexpected ({actual[key]})")
        elif expected[key] != actual[key]:
            lines.append(f"{label} {key}: expected {expected[key]}, found {actual[key]}")
    return lines


def format_diff(title: str, lines: list[str]) -> str:
    return title + "\n  " + "\n  ".join(lines)


# --- sample rows -------------------------------------------------------------------------------------------------

ROWS_PER_TABLE = 3
_MOMENT = datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=UTC)


def _sample(type_name: str, table: str, column: str, index: int) -> Any:
    """A value of ``type_name`` that differs for each ``index`` (unique columns stay unique)."""
    base = type_name.split("(")[0].strip()
    if base in ("bigint", "integer", "smallint"):
        return 1000 + index
    if base in ("character varying", "text", "character", "citext"):
        text = f"{index}-{table}.{column}-ünïcødé"
        length = type_name[len(base) :].strip("() ")
        return text[: int(length)] if length.isdigit() else text
    if base == "timestamp with time zone":
        return _MOMENT + timedelta(days=index)
    if base == "timestamp without time zone":
        return (_MOMENT + timedelta(days=index)).replace(tzinfo=None)
    if base == "date":
        return date(2024, 2, 29) + timedelta(days=index)
    if base == "boolean":
        return index % 2 == 0
    if base in ("json", "jsonb"):
        return json.dumps({"table": table, "column": column, "index": index, "nested": [index, None]})
    if base == "numeric":
        return Decimal(index) + Decimal("0.25")
    if base in ("double precision", "real"):
        return index + 0.5
    if base == "uuid":
        return uuid.UUID(int=index + 1)
    if base == "bytea":
        return bytes([index, 0, 255])
    if base == "tsvector":
        return f"'sample{index}':1A"
    raise AssertionError(f"no sample value for {table}.{column} of type {type_name}: teach catalog._sample about it")


CONFIGURATION_TABLES = {"search_config"}
"""Tables holding one row of configuration that their migration writes (a CHECK keeps them to it): not filled."""


async def fill_tables(url: str, schema: Schema, rows: int = ROWS_PER_TABLE) -> dict[str, list[tuple[Any, ...]]]:
    """Insert ``rows`` rows into every data table of ``schema``, parents first; return the rows inserted per table
    (every column, in the table's column order).

    Every column gets a value (nullable ones are NULL in the first row only) except those the database fills
    itself (serial/identity/generated). Row ``i`` of a table references row ``i`` of the table its foreign key
    points at, so one-to-one and composite unique keys hold.
    """
    connection = await asyncpg.connect(url)
    try:
        references = await _foreign_keys(connection)
        inserted: dict[str, list[asyncpg.Record]] = {}
        for table in _parents_first(schema.data_tables - CONFIGURATION_TABLES, references):
            inserted[table] = []
            for index in range(rows):
                values: dict[str, Any] = {}
                for column, spec in schema.tables[table].columns.items():
                    if spec["identity"] or spec["generated"] or (spec["default"] or "").startswith("nextval("):
                        continue
                    if (table, column) in references:
                        parent, parent_column = references[(table, column)]
                        values[column] = inserted[parent][index][parent_column]
                    elif spec["nullable"] and index == 0:
                        values[column] = None
                    else:
                        values[column] = _sample(spec["type"], table, column, index)
                columns = ", ".join(f'"{name}"' for name in values)
                placeholders = ", ".join(f"${n}" for n in range(1, len(values) + 1))
                row = await connection.fetchrow(
                    f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders}) RETURNING *', *values.values()
                )
                inserted[table].append(row)
        return {table: [tuple(record) for record in records] for table, records in inserted.items()}
    finally:
        await connection.close()


async def _foreign_keys(connection: asyncpg.Connection) -> dict[tuple[str, str], tuple[str, str]]:
    """(table, column) -> (referenced table, column) for every single-column foreign key in ``public``."""
    rows = await connection.fetch(
        """SELECT c.relname AS table, a.attname AS column, rc.relname AS parent, ra.attname AS parent_column
           FROM pg_constraint con
           JOIN pg_class c ON c.oid = con.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_class rc ON rc.oid = con.confrelid
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
           JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1]
           WHERE n.nspname = 'public' AND con.contype = 'f' AND cardinality(con.conkey) = 1"""
    )
    return {(row["table"], row["column"]): (row["parent"], row["parent_column"]) for row in rows}


def _parents_first(tables: set[str], references: dict[tuple[str, str], tuple[str, str]]) -> list[str]:
    parents: dict[str, set[str]] = defaultdict(set)
    for (table, _), (parent, _) in references.items():
        if table != parent:
            parents[table].add(parent)
    ordered: list[str] = []
    remaining = set(tables)
    while remaining:
        ready = sorted(t for t in remaining if not (parents[t] & remaining))
        assert ready, f"foreign keys form a cycle between {sorted(remaining)}; fill_tables cannot order them"
        ordered.extend(ready)
        remaining -= set(ready)
    return ordered


async def table_rows(url: str, columns_by_table: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """The full contents of each table (only the given columns), in a stable order."""
    connection = await asyncpg.connect(url)
    try:
        contents = {}
        for table, columns in sorted(columns_by_table.items()):
            selected = ", ".join(f'"{column}"' for column in columns)
            records = await connection.fetch(f'SELECT {selected} FROM "{table}"')
            contents[table] = sorted((tuple(record) for record in records), key=repr)
        return contents
    finally:
        await connection.close()


def rows_diff(table: str, columns: list[str], before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> list[str]:
    """One line per row of ``table`` that disappeared or appeared, as column -> value."""
    lost, new = Counter(before) - Counter(after), Counter(after) - Counter(before)
    lines = [f"table {table}: lost row {dict(zip(columns, row, strict=True))}" for row in lost.elements()]
    return lines + [f"table {table}: new row {dict(zip(columns, row, strict=True))}" for row in new.elements()]


async def applied_versions(url: str) -> list[str]:
    """The migrations the aerich table records, in the order they were applied (empty without the table)."""
    connection = await asyncpg.connect(url)
    try:
        if not await connection.fetchval("SELECT to_regclass('aerich') IS NOT NULL"):
            return []
        rows = await connection.fetch("SELECT version FROM aerich WHERE app = 'models' ORDER BY id")
        return [row["version"] for row in rows]
    finally:
        await connection.close()
