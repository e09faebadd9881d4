"""``python -m service``: its commands, and refusing to start when the database is unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.models import Role, User
from service.security import _hasher, verify_password
from tests.conftest import PASSWORD, MakeUser

ROOT = Path(__file__).resolve().parent.parent
BAD_EMAIL = "error: --email: Input should be a valid email address"
BLANK_PASSWORD = "error: password: String should have at least 8 characters besides"


def run(args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        timeout=timeout,
        check=False,
    )


def test_help_lists_the_operator_commands() -> None:
    result = run(["--help"], {})
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m service ")
    assert "serve" in result.stdout
    assert "create-admin" in result.stdout
    serve_help = run(["serve", "--help"], {})
    assert "--workers N" in serve_help.stdout


def test_the_installed_script_names_itself_in_its_help() -> None:
    script = Path(sys.executable).parent / "posts-api"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: posts-api ")


def test_workers_out_of_range_is_a_usage_error() -> None:
    result = run(["serve", "--workers", "0"], {})
    assert result.returncode == 2
    assert "--workers must be between 1 and 64" in result.stderr


def test_an_unreachable_database_is_one_clear_line_and_exit_1() -> None:
    started = time.monotonic()
    result = run(["serve"], {"DATABASE_URL": "postgres://app:hunter2-secret@127.0.0.1:1/posts", "PORT": "0"})
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot reach the database at app@127.0.0.1:1/posts")
    assert "hunter2" not in result.stderr + result.stdout


def test_bad_settings_are_one_line_and_exit_1() -> None:
    result = run(["serve"], {"APP_ENV": "production", "JWT_SECRET": ""})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: JWT_SECRET must be set to a secret value when APP_ENV=production"


def admin_env(database_url: str, **extra: str) -> dict[str, str]:
    """The test database, logging at INFO: the command itself must keep stderr quiet without --verbose."""
    return {"DATABASE_URL": database_url, "MIGRATE_ON_START": "0", "LOG_LEVEL": "INFO", **extra}


async def test_create_admin_creates_an_admin_and_prints_one_line(database_url: str, app: object) -> None:
    env = admin_env(database_url)
    created = run(["create-admin", "--email", "Root@Example.com", "--name", "Root"], env, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    admin = await User.get(email="root@example.com")
    assert created.stdout == f"created admin root@example.com (id {admin.id})\n"
    assert created.stderr == ""
    assert admin.role == Role.ADMIN
    assert await verify_password(admin.password_hash, PASSWORD)

    verbose = run(["create-admin", "--email", "v@example.com", "--name", "V", "--verbose"], env, stdin=PASSWORD + "\n")
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stdout.count("\n") == 1
    assert verbose.stdout.startswith("created admin v@example.com")
    records = [json.loads(line) for line in verbose.stderr.splitlines()]
    assert any(record["message"] == "database pool closed" for record in records), verbose.stderr
    assert PASSWORD not in created.stdout + created.stderr + verbose.stdout + verbose.stderr


async def test_create_admin_promotes_an_account_only_with_its_current_password(
    database_url: str, make_user: MakeUser
) -> None:
    env = admin_env(database_url)
    squatter_password = "chosen by whoever signed up first"
    squatted = await make_user(email="ops@example.com", password_hash=_hasher.hash(squatter_password))

    refused = run(["create-admin", "--email", "ops@example.com"], env, stdin=PASSWORD + "\n")
    assert refused.returncode == 1
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"error: ops@example.com (id {squatted.id}) already exists and that is not its password")
    assert "current password (piped or typed)" in line
    assert "--reset-password" in line
    after = await User.get(id=squatted.id)
    assert (after.role, after.password_hash, after.updated_at) == (
        Role.MEMBER,
        squatted.password_hash,
        squatted.updated_at,
    )

    promoted = run(["create-admin", "--email", "OPS@example.com"], env, stdin=squatter_password + "\n")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout == f"promoted ops@example.com (id {squatted.id}) to admin; the password was left unchanged\n"
    after = await User.get(id=squatted.id)
    assert (after.role, after.password_hash, after.token_version) == (Role.ADMIN, squatted.password_hash, 0)
    assert after.updated_at > squatted.updated_at  # a change of role is a change

    again = run(["create-admin", "--email", "ops@example.com"], env, stdin=squatter_password + "\n")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"ops@example.com (id {squatted.id}) is already an admin; nothing changed\n"
    assert (await User.get(id=squatted.id)).updated_at == after.updated_at


async def test_create_admin_reset_password_sets_the_password_and_revokes_every_token(
    database_url: str, make_user: MakeUser, client: httpx.AsyncClient, token_for: Callable[[User], dict[str, str]]
) -> None:
    env = admin_env(database_url)
    squatted = await make_user(email="ops@example.com")
    old_token = token_for(squatted)
    assert (await client.get("/users/me", headers=old_token)).status_code == 200
    new_password = "the operator's own password"

    reset = run(["create-admin", "--email", "ops@example.com", "--reset-password"], env, stdin=new_password + "\n")
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout == (
        f"ops@example.com (id {squatted.id}) is an admin with the new password; every token it had is revoked\n"
    )
    after = await User.get(id=squatted.id)
    assert after.role == Role.ADMIN
    assert after.token_version == squatted.token_version + 1
    assert await verify_password(after.password_hash, new_password)
    assert not await verify_password(after.password_hash, PASSWORD)
    assert (await client.get("/users/me", headers=old_token)).status_code == 401
    signed_in = await client.post("/auth/token", data={"username": "ops@example.com", "password": new_password})
    assert signed_in.status_code == 200


async def test_create_admin_refusals_leave_the_database_as_it_was(database_url: str, app: object) -> None:
    env = admin_env(database_url)
    silent = run(["create-admin", "--email", "new@example.com", "--name", "N"], env, stdin="")
    assert (silent.returncode, silent.stdout) == (1, "")
    assert "no password on stdin" in silent.stderr

    unknown = run(["create-admin", "--email", "nobody@example.com"], env, stdin=PASSWORD + "\n")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "error: no user has the email 'nobody@example.com'; give --name to create one\n"
    assert await User.all().count() == 0


@pytest.mark.parametrize(
    ("arguments", "password", "error"),
    [
        (["--email", "not-an-email", "--name", "X"], PASSWORD, BAD_EMAIL),
        (
            ["--email", "ops@localhost", "--name", "X"],
            PASSWORD,
            BAD_EMAIL,
        ),
        (["--email", "ops@example.com", "--name", "  "], PASSWORD, "error: --name: String should have at least 1"),
        (["--email", "ops@example.com"], "short", "error: password: String should have at least 8 characters"),
        (["--email", "ops@example.com"], "x" * 129, "error: password: String should have at most 128 characters"),
        (
            ["--email", "ops@example.com", "--reset-password"],
            " " * 8 + "1",
            BLANK_PASSWORD,
        ),
    ],
    ids=["email", "special-use-domain", "name", "short-password", "long-password", "blank-password"],
)
def test_create_admin_checks_its_input_before_starting_a_database(
    tmp_path: Path, arguments: list[str], password: str, error: str
) -> None:
    pgdata = tmp_path / "pgdata"
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "service", "create-admin", *arguments],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environment, "EMBEDDED_PGDATA": str(pgdata), "LOG_LEVEL": "INFO"},
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith(error), line
    assert not pgdata.exists()  # no embedded PostgreSQL was started
