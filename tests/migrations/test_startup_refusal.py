"""``python -m service`` refuses to start on a database that is ahead of the code or, without MIGRATE_ON_START, behind.

Each case runs the real entry point on a free port. A server that starts by mistake does not exit by itself: the
run is killed after a timeout and the test fails.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import asyncpg
import httpx
import pytest

from tests.migrations import cli
from tests.migrations.catalog import applied_versions
from tests.migrations.conftest import NewDatabase
from tests.serving import serve


async def start_service(url: str, migrate_on_start: bool) -> cli.Result:
    env = cli.environment(
        url, MIGRATE_ON_START="1" if migrate_on_start else "0", HOST="127.0.0.1", PORT=str(cli.free_port())
    )
    return await cli.run([sys.executable, "-m", "service"], env, timeout=30)


def error_line(result: cli.Result) -> str:
    """The one line the refusal prints: exit status 1, one ``error: ...`` line on stderr."""
    assert result.returncode == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr:\n{result.output}"
    assert lines[0].startswith("error: "), result.output
    return lines[0]


async def test_a_database_ahead_of_the_code_is_refused(new_database: NewDatabase, migration_files: list[str]) -> None:
    url = await new_database()
    assert await cli.upgrade(url) == migration_files
    unknown = f"{len(migration_files)}_20991231235959_from_newer_code.py"
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO aerich (version, app, content) VALUES ($1, 'models', $2)", unknown, json.dumps({})
        )
    finally:
        await connection.close()

    without, with_migrate = await asyncio.gather(start_service(url, False), start_service(url, True))

    for result in (without, with_migrate):
        line = error_line(result)
        assert unknown in line, result.output
        assert "does not know" in line, result.output
        assert not any(name in line for name in migration_files), line
    assert await applied_versions(url) == [*migration_files, unknown]


async def test_pending_migrations_are_refused_without_migrate_on_start(
    new_database: NewDatabase, migration_files: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    empty = await new_database()
    behind = await new_database()
    staged = cli.StagedMigrations(tmp_path_factory.mktemp("behind"))
    for name in migration_files[:-1]:
        staged.add(name)
    if migration_files[:-1]:
        assert await cli.upgrade(behind, config=staged.config) == migration_files[:-1]

    results = await asyncio.gather(start_service(empty, False), start_service(behind, False))

    for url, result, pending in zip((empty, behind), results, (migration_files, migration_files[-1:]), strict=True):
        line = error_line(result)
        assert "lacks migrations" in line, result.output
        assert line.endswith(
            ": run '.venv/bin/aerich -c aerich.ini upgrade' from the project root ('aerich' in the container image) "
            "or set MIGRATE_ON_START=1"
        ), line
        named = [name for name in migration_files if name in line]
        assert named == pending, f"the refusal names {named}, the pending migrations are {pending}: {line}"
        assert await applied_versions(url) == [name for name in migration_files if name not in pending]


async def test_a_start_that_migrates_says_so_in_a_json_log_line(
    new_database: NewDatabase, migration_files: list[str]
) -> None:
    url = await new_database()
    with serve(url, MIGRATE_ON_START="1", LOG_LEVEL="INFO") as served:
        async with httpx.AsyncClient(base_url=served.base_url) as client:
            assert (await client.get("/health")).status_code == 200
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=15) == 0
        lines = [line for line in served.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    (applied,) = [record for record in records if record["message"] == "applied migrations"]
    assert applied["migrations"] == migration_files
    assert applied["logger"] == "service.migrations"
    started = next(n for n, record in enumerate(records) if record["message"] == "Application startup complete.")
    assert not [r for r in records[:started] if "shutdown" in r["message"].lower()], records[:started]
