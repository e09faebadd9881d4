"""The aerich commands of the README and docs/migrations.md run as pasted: from the clone's root, in a fresh shell
(no venv activated, no terminal), on the embedded database that the quick start uses when DATABASE_URL is unset."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from service.db import migration_files

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("README.md", "docs/migrations.md")
FRESH_PATH = "/usr/local/bin:/usr/bin:/bin"
"""A shell's PATH with nothing of this project on it."""
_CODE_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"(?<!`)`([^`]+)`(?!`)")


def aerich_commands(page: str) -> list[str]:
    """Every command of ``page`` that runs aerich: lines of its sh blocks and its inline code, comments dropped."""
    text = (ROOT / page).read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for block in _CODE_BLOCK.findall(text) for line in block.splitlines()]
    prose = _CODE_BLOCK.sub("", text)
    spans = [" ".join(span.split()) for span in _INLINE_CODE.findall(prose)]
    return [command for command in [*lines, *spans] if re.search(r"\baerich -c\b", command)]


def test_every_documented_aerich_command_runs_from_the_venv_and_downgrade_says_yes() -> None:
    commands = {page: aerich_commands(page) for page in PAGES}
    assert all(commands.values()), commands
    for page, found in commands.items():
        for command in found:
            assert command.startswith(".venv/bin/aerich -c aerich.ini "), f"{page}: {command!r} needs the venv's aerich"
            if " downgrade" in command:
                assert command.endswith(" --yes"), f"{page}: {command!r} aborts without a terminal"


def test_the_documented_aerich_commands_work_on_the_embedded_database(tmp_path: Path) -> None:
    # The migration guide's order (history, heads, upgrade, downgrade), then anything only the README has.
    documented = dict.fromkeys(command for page in reversed(PAGES) for command in aerich_commands(page))
    runnable = [command for command in documented if " migrate" not in command]  # migrate writes files
    assert {command.split()[3] for command in runnable} >= {"history", "heads", "upgrade", "downgrade"}
    environment = {"PATH": FRESH_PATH, "HOME": os.environ.get("HOME", "/root"), "EMBEDDED_PGDATA": str(tmp_path)}
    # heads fails on a database that was never migrated (docs/migrations.md says so): upgrade first.
    upgrade = next(command for command in runnable if command.endswith(" upgrade"))
    outputs: dict[str, str] = {}
    for command in [upgrade, *runnable, upgrade]:
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
        outputs[command.split()[3]] = result.stdout
    assert (tmp_path / "PG_VERSION").exists()  # it was the embedded database
    latest = migration_files()[-1]
    assert f"Success downgrading to {latest}" in outputs["downgrade"], outputs
    assert outputs["upgrade"] == f"Success upgrading to {latest}\n"  # the last run put it back
    assert "No available heads" in outputs["heads"], outputs
    assert latest in outputs["history"], outputs
