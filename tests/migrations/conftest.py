"""Fixtures of the migration tests: the migration files and the schema after each one, applied one at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from service import db
from tests.migrations import cli
from tests.migrations.catalog import Schema, applied_versions, read_schema
from tests.postgres import create_database, drop_database


@pytest.fixture(scope="session")
def migration_files() -> list[str]:
    """Every migration in migrations/models, in order; the service must see the same list."""
    files = cli.migration_files()
    assert files, f"no migration files in {cli.MIGRATIONS_DIR / db.APP_LABEL}"
    assert list(db.migration_files()) == files
    return files


NewDatabase = Callable[[], Awaitable[str]]


@pytest.fixture
async def new_database(server_url: str) -> AsyncIterator[NewDatabase]:
    """Create empty throwaway databases on demand; drop them after the test."""
    created: list[str] = []

    async def create() -> str:
        url = await create_database(server_url, prefix="migrations")
        created.append(url)
        return url

    yield create
    for url in created:
        await drop_database(server_url, url)


@dataclass(frozen=True)
class UpgradePass:
    """An empty database migrated one file at a time, and the schema recorded before and after each file."""

    url: str  # at head; the round-trip test downgrades it, other tests use only the recorded schemas
    files: list[str]
    schemas: list[Schema]  # schemas[k]: after the first k files (schemas[0]: the empty database)

    @property
    def head(self) -> Schema:
        return self.schemas[-1]

    def created_by(self, index: int) -> set[str]:
        """The data tables that files[index] creates."""
        return self.schemas[index + 1].data_tables - self.schemas[index].data_tables


@pytest.fixture(scope="session")
async def upgrade_pass(
    server_url: str, migration_files: list[str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[UpgradePass]:
    """Apply the migrations one by one with ``aerich upgrade`` on a staged copy of the folder, recording schemas."""
    url = await create_database(server_url, prefix="migrations_pass")
    try:
        staged = cli.StagedMigrations(tmp_path_factory.mktemp("staged"))
        schemas = [await read_schema(url)]
        assert not schemas[0].tables, "a new database should be empty"
        for index, name in enumerate(migration_files):
            staged.add(name)
            assert await cli.upgrade(url, config=staged.config) == [name]
            assert await applied_versions(url) == migration_files[: index + 1]
            schemas.append(await read_schema(url))
        yield UpgradePass(url=url, files=migration_files, schemas=schemas)
    finally:
        await drop_database(server_url, url)
