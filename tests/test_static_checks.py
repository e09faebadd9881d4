"""ruff (lint and format) and mypy --strict are part of the test suite, so the README's one test command runs them;
the lock file the README's commands install from is in step with pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOCK = ROOT / "requirements.lock"


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
    ],
    ids=["ruff-lint", "ruff-format", "mypy-strict"],
)
def test_static_check_passes(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def test_the_lock_file_pins_every_dependency_within_pyproject_ranges() -> None:
    """requirements.lock (what the quick start, CI and the image install) is in step with pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    pinned = {
        canonicalize_name(name): Version(version)
        for name, version in re.findall(r"^([A-Za-z0-9._-]+)==([^\s;]+)", LOCK.read_text(), flags=re.MULTILINE)
    }
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pinned[name]), (
            f"requirements.lock pins {name}=={pinned[name]}, outside pyproject's {requirement.specifier}: "
            "run `make lock`"
        )
