"""Upgrades started at the same time, through aerich's CLI and the service's start-up path, apply each file once.

Each round holds the migration advisory lock (``service.db.MIGRATION_LOCK_KEY``) from the test while it starts the
upgrades, and releases it only after every process has printed that it is waiting for the lock: all of them are then
provably contending for the same empty database, without any sleep. Both paths must serialise behind the lock:
all exit 0, each file is reported applied by exactly one of them, aerich's table holds exactly one row per
migration and the schema is the head schema of the one-by-one upgrade.
"""

from __future__ import annotations

import sys
from collections import Counter

import asyncpg

from service import db
from tests.migrations import cli
from tests.migrations.catalog import applied_versions, format_diff, read_schema, schema_diff
from tests.migrations.conftest import NewDatabase, UpgradePass

ROUNDS = 3
COMMANDS = (
    [cli.AERICH, "-c", str(cli.AERICH_INI), "upgrade"],
    [sys.executable, "-c", cli.PROGRAMMATIC_UPGRADE],
    [cli.AERICH, "-c", str(cli.AERICH_INI), "upgrade"],
    [sys.executable, "-c", cli.PROGRAMMATIC_UPGRADE],
)


async def upgrade_all_at_once(url: str) -> list[cli.Result]:
    lock = await asyncpg.connect(url)
    processes: list[cli.Process] = []
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", db.MIGRATION_LOCK_KEY)
        for command in COMMANDS:
            processes.append(await cli.Process.start(command, cli.environment(url)))
        for process in processes:
            await process.wait_for_stderr(cli.WAITING_FOR_LOCK)
        await lock.execute("SELECT pg_advisory_unlock($1)", db.MIGRATION_LOCK_KEY)
        return [await process.finish() for process in processes]
    finally:
        await lock.close()
        for process in processes:
            await process.stop()


async def test_simultaneous_upgrades_apply_each_migration_once(
    upgrade_pass: UpgradePass, new_database: NewDatabase
) -> None:
    files = upgrade_pass.files
    for round_number in range(1, ROUNDS + 1):
        url = await new_database()
        results = await upgrade_all_at_once(url)

        failed = [result.output for result in results if result.returncode != 0]
        assert not failed, f"round {round_number}: upgrades failed:\n" + "\n".join(failed)
        applied = Counter(name for result in results for name in result.lines("Success upgrading to"))
        assert applied == Counter(files), f"round {round_number}: files applied {dict(applied)}, expected each once"
        assert await applied_versions(url) == files, f"round {round_number}"
        differences = schema_diff(upgrade_pass.head, await read_schema(url))
        assert not differences, format_diff(f"round {round_number}: the schema is not the head schema:", differences)
