"""The operator's commands run as subprocesses: aerich's CLI, the programmatic upgrade and ``python -m service``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from service import db

PROJECT_ROOT = db.PROJECT_ROOT
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
AERICH_INI = PROJECT_ROOT / "aerich.ini"
AERICH = str(Path(sys.executable).with_name("aerich"))
TIMEOUT = 60.0  # seconds; only a guard against a hung subprocess, never a measurement
WAITING_FOR_LOCK = "another process is migrating this database"  # service.db.client's warning while it waits

# python -c: the service's start-up upgrade (service.db.upgrade), printing each applied file on its own line.
PROGRAMMATIC_UPGRADE = (
    "import asyncio, os\n"
    "from service import db\n"
    "from service.settings import Settings\n"
    "applied = asyncio.run(db.upgrade(Settings.from_env(), os.environ['DATABASE_URL']))\n"
    "print(''.join(f'Success upgrading to {name}\\n' for name in applied), end='')\n"
)


def migration_files() -> list[str]:
    """The migration files in migrations/models, in the order aerich applies them (by their number)."""
    files = [path.name for path in (MIGRATIONS_DIR / db.APP_LABEL).glob("*.py") if re.match(r"^\d+_", path.name)]
    return sorted(files, key=lambda name: int(name.split("_", 1)[0]))


def environment(database_url: str, **extra: str) -> dict[str, str]:
    """A clean environment for the service and aerich: this database and nothing inherited that changes them."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env.update(
        DATABASE_URL=database_url,
        APP_ENV="test",
        JWT_SECRET="migration-tests-secret-" + "x" * 32,
        LOG_LEVEL="WARNING",
        AERICH_NO_TORTOISE_V1_WARNING="1",
        PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ inside migrations/
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Result:
    command: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"$ {self.command}\nexit status {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"

    def lines(self, prefix: str) -> list[str]:
        """The rest of each stdout line that starts with ``prefix``."""
        return [line[len(prefix) :].strip() for line in self.stdout.splitlines() if line.startswith(prefix)]


class Process:
    """A subprocess in its own process group (so a server and its workers can be killed together)."""

    def __init__(self, process: asyncio.subprocess.Process, command: str) -> None:
        self.process = process
        self.command = command
        self.early_stderr = ""

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT) -> Process:
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        return cls(process, " ".join(args))

    async def wait_for_stderr(self, text: str, timeout: float = TIMEOUT) -> None:
        """Read stderr until a line contains ``text``; fail if the process ends first."""

        async def scan() -> bool:
            assert self.process.stderr is not None
            while line := await self.process.stderr.readline():
                self.early_stderr += line.decode()
                if text in line.decode():
                    return True
            return False

        try:
            found = await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            self.kill()
            raise AssertionError(f"{self.command} never printed {text!r} within {timeout} s") from None
        if not found:
            result = await self.finish()
            raise AssertionError(f"the process ended without printing {text!r}:\n{result.output}")

    async def finish(self, timeout: float = TIMEOUT) -> Result:
        """Wait for the exit; past ``timeout`` kill the whole process group and fail."""
        try:
            stdout, stderr = await asyncio.wait_for(self.process.communicate(), timeout)
        except TimeoutError:
            self.kill()
            stdout, stderr = await self.process.communicate()
            raise AssertionError(
                f"{self.command} was still running after {timeout} s and was killed\n"
                f"--- stdout\n{stdout.decode()}--- stderr\n{self.early_stderr}{stderr.decode()}"
            ) from None
        assert self.process.returncode is not None
        return Result(self.command, self.process.returncode, stdout.decode(), self.early_stderr + stderr.decode())

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        """Kill the process group if the process still runs, and reap it."""
        self.kill()
        await self.process.wait()


async def run(args: list[str], env: dict[str, str], timeout: float = TIMEOUT) -> Result:
    process = await Process.start(args, env)
    try:
        return await process.finish(timeout)
    finally:
        await process.stop()


async def aerich(
    database_url: str,
    *args: str,
    config: Path = AERICH_INI,
    check: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Result:
    """``aerich -c <config> <args>`` from the project root, as the operator runs it."""
    result = await run([AERICH, "-c", str(config), *args], environment(database_url, **(extra_env or {})))
    if check:
        assert result.returncode == 0, result.output
    return result


async def upgrade(database_url: str, config: Path = AERICH_INI) -> list[str]:
    """``aerich upgrade``; return the files it reports as applied."""
    result = await aerich(database_url, "upgrade", config=config)
    return result.lines("Success upgrading to")


async def downgrade(database_url: str) -> list[str]:
    """``aerich downgrade --yes`` (the latest applied migration); return the files it reports as reverted."""
    result = await aerich(database_url, "downgrade", "--yes")
    return result.lines("Success downgrading to")


def write_config(path: Path, location: Path, tortoise_orm: str = "service.db.config.TORTOISE_ORM") -> Path:
    """An aerich.ini like the project's, reading its migrations from ``location``."""
    path.write_text(f'[tool.aerich]\ntortoise_orm = "{tortoise_orm}"\nlocation = "{location}"\nsrc_folder = "./."\n')
    return path


class StagedMigrations:
    """A temporary migrations folder that receives the project's migration files one at a time.

    ``aerich upgrade`` applies every pending file it sees, so running it after each :meth:`add` applies exactly
    that file, through the real CLI, the real ``TORTOISE_ORM`` (and its lock) and the real file.
    """

    def __init__(self, folder: Path) -> None:
        self.location = folder / "migrations"
        (self.location / db.APP_LABEL).mkdir(parents=True)
        self.config = write_config(folder / "aerich.ini", self.location)

    def add(self, name: str) -> None:
        shutil.copy2(MIGRATIONS_DIR / db.APP_LABEL / name, self.location / db.APP_LABEL / name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
