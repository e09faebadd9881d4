"""``python -m service``: its commands, and refusing to start when the database is unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from service.models import Role, User
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


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


async def test_create_admin_creates_then_promotes(database_url: str, app: object) -> None:
    env = {"DATABASE_URL": database_url, "MIGRATE_ON_START": "0"}
    created = run(["create-admin", "--email", "Root@Example.com", "--name", "Root"], env, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "created admin root@example.com" in created.stdout
    admin = await User.get(email="root@example.com")
    assert admin.role == Role.ADMIN
    assert PASSWORD not in created.stdout + created.stderr

    member = await User.create(name="M", email="m@example.com", password_hash="x", role=Role.MEMBER)
    promoted = run(["create-admin", "--email", "m@example.com"], env)
    assert promoted.returncode == 0, promoted.stderr
    assert "the password was left unchanged" in promoted.stdout
    after = await User.get(id=member.id)
    assert after.role == Role.ADMIN
    assert after.password_hash == "x"
    assert after.updated_at > member.updated_at  # a change of role is a change

    again = run(["create-admin", "--email", "m@example.com"], env)
    assert again.returncode == 0, again.stderr
    assert "already an admin; nothing changed" in again.stdout
    assert (await User.get(id=member.id)).updated_at == after.updated_at

    silent = run(["create-admin", "--email", "new@example.com", "--name", "N"], env, stdin="")
    assert silent.returncode == 1
    assert "no password on stdin" in silent.stderr

    unknown = run(["create-admin", "--email", "nobody@example.com"], env)
    assert unknown.returncode == 1
    assert "give --name" in unknown.stderr

    weak = run(["create-admin", "--email", "weak@example.com", "--name", "W"], env, stdin="short\n")
    assert weak.returncode == 1
    assert "password" in weak.stderr
    assert await User.filter(email="weak@example.com").count() == 0
