"""Every migration goes up and comes back down through the operator's CLI, leaving exactly the schema it found.

How the steps are taken, and why: the operator runs ``aerich -c aerich.ini upgrade``, which applies every
pending file at once. To stop after each file and still go through that real path, the ``upgrade_pass`` fixture
(conftest.py) copies the project's migration files, one at a time, into a temporary migrations folder whose own
aerich.ini differs from the project's only in ``location``, and runs ``aerich upgrade`` after each copy: the real
CLI, the real ``service.db.config.TORTOISE_ORM`` (with its advisory lock) and the real files apply exactly one file per
call. The live schema is read from PostgreSQL's catalog after every step (tables, columns with type, nullability,
default and comment, indexes, constraints, triggers, sequences, views, types and functions).

Everything else uses the project's own aerich.ini unchanged: ``aerich downgrade --yes`` reverts one migration per
call (the latest applied one, as an operator would), ``aerich upgrade`` goes back to head in one call, and
``aerich history`` / ``aerich heads`` list what the operator sees. The files are discovered from
migrations/models, so a new migration is covered without new test code.
"""

from __future__ import annotations

from typing import Any

from tests.migrations import cli
from tests.migrations.catalog import (
    BOOKKEEPING_TABLE,
    CONFIGURATION_TABLES,
    Schema,
    Table,
    applied_versions,
    fill_tables,
    format_diff,
    read_schema,
    rows_diff,
    schema_diff,
    table_rows,
)
from tests.migrations.conftest import NewDatabase, UpgradePass


async def test_each_migration_reverts_to_the_schema_it_found(upgrade_pass: UpgradePass) -> None:
    files, schemas, url = upgrade_pass.files, upgrade_pass.schemas, upgrade_pass.url
    for index in range(len(files), 1, -1):
        assert await cli.downgrade(url) == [files[index - 1]]
        assert await applied_versions(url) == files[: index - 1]
        differences = schema_diff(schemas[index - 1], await read_schema(url))
        assert not differences, format_diff(
            f"after downgrading {files[index - 1]}, the schema differs from the one before it was applied:",
            differences,
        )

    # The first migration's downgrade leaves only aerich's bookkeeping table, as it was created.
    assert await cli.downgrade(url) == [files[0]]
    assert await applied_versions(url) == []
    bottom = schemas[1].only({BOOKKEEPING_TABLE})
    assert set(bottom.tables) == {BOOKKEEPING_TABLE}
    differences = schema_diff(bottom, await read_schema(url))
    assert not differences, format_diff(
        f"after downgrading {files[0]}, the schema is not just aerich's table as the first migration made it:",
        differences,
    )
    assert (await cli.aerich(url, "heads")).lines("") == files

    assert await cli.upgrade(url) == files
    differences = schema_diff(upgrade_pass.head, await read_schema(url))
    assert not differences, format_diff(
        "upgrading to head in one call gives another schema than applying the files one by one:", differences
    )
    assert await applied_versions(url) == files
    assert (await cli.aerich(url, "heads")).stdout.strip() == "No available heads."
    assert (await cli.aerich(url, "history")).lines("") == files


async def test_rows_survive_reverting_and_reapplying_later_migrations(
    upgrade_pass: UpgradePass, new_database: NewDatabase
) -> None:
    """Fill every table at head; then revert the latest migration, the latest two, ... (all but the first), each
    time upgrading to head again: the rows of the tables the reverted migrations did not create are unchanged
    (every column they had before those migrations), and the rows written at head into the tables they created
    are gone (those tables come back empty, or holding only what their migration derives, like row_counts)."""
    files, schemas, head = upgrade_pass.files, upgrade_pass.schemas, upgrade_pass.head
    url = await new_database()
    assert await cli.upgrade(url) == files
    samples = await fill_tables(url, head)
    counts = {table: len(rows) for table, rows in samples.items()}
    assert counts == dict.fromkeys(head.data_tables - CONFIGURATION_TABLES, 3)
    assert {"users", "posts", "profiles", "tags", "post_tags"} <= set(counts)
    columns = {table: list(head.tables[table].columns) for table in head.data_tables}
    at_head = await table_rows(url, columns)

    for first in range(len(files) - 1, 0, -1):
        reverted = files[first:]
        for name in reversed(reverted):
            assert await cli.downgrade(url) == [name]
        assert await cli.upgrade(url) == reverted

        found_before = schemas[first]
        kept = {
            table: [column for column in columns[table] if column in found_before.tables[table].columns]
            for table in head.data_tables & found_before.data_tables
        }
        assert kept, f"no table predates {reverted[0]}"
        now = await table_rows(url, kept)
        changes = [
            line
            for table in sorted(kept)
            for line in rows_diff(table, kept[table], project(at_head[table], columns[table], kept[table]), now[table])
        ]
        assert not changes, format_diff(f"rows changed by reverting and reapplying {', '.join(reverted)}:", changes)
        # What the reverted migrations created was dropped by their downgrades: those rows are gone
        # (see docs/migrations.md).
        created = head.data_tables - found_before.data_tables
        recreated = await table_rows(url, {table: columns[table] for table in created})
        survivors = {table: set(recreated[table]) & set(samples.get(table, [])) for table in created}
        assert survivors == {table: set() for table in created}, survivors
        assert await applied_versions(url) == files


def project(rows: list[tuple[Any, ...]], columns: list[str], selected: list[str]) -> list[tuple[Any, ...]]:
    """``rows`` (of ``columns``) reduced to the ``selected`` columns."""
    positions = [columns.index(column) for column in selected]
    return sorted((tuple(row[i] for i in positions) for row in rows), key=repr)


def test_schema_diff_names_the_differing_tables_columns_and_indexes() -> None:
    users = Table(
        columns={"id": {"type": "bigint", "nullable": False}, "email": {"type": "character varying(254)"}},
        indexes={"users_pkey": "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)"},
        constraints={"users_pkey": "PRIMARY KEY: PRIMARY KEY (id)"},
    )
    expected = Schema(tables={"users": users, "tags": Table()}, others={"sequence users_id_seq": "owned by users.id"})
    actual = Schema(
        tables={
            "users": Table(
                columns={"id": {"type": "integer", "nullable": False}},
                indexes={},
                constraints=users.constraints,
            ),
            "posts": Table(columns={"id": {"type": "bigint"}}),
        }
    )
    assert schema_diff(expected, expected) == []
    assert schema_diff(expected, actual) == [
        "table tags: missing",
        "table posts: unexpected (columns ['id'])",
        "table users column email: missing (expected {'type': 'character varying(254)'})",
        "table users column id: expected {'type': 'bigint', 'nullable': False}, "
        "found {'type': 'integer', 'nullable': False}",
        "table users index users_pkey: missing (expected CREATE UNIQUE INDEX users_pkey ON public.users USING btree "
        "(id))",
        "object sequence users_id_seq: missing (expected owned by users.id)",
    ]
