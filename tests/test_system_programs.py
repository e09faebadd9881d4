"""Tests that run a system program (haproxy) are skipped, saying what to install, where it is absent; CI fails them.

The quick start names only Python and git, so ``.venv/bin/pytest`` must pass on a machine with nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tests.test_balancer
from tests.conftest import ci, find_program, missing_program

ROOT = Path(__file__).resolve().parent.parent
ABSENT = "posts-api-no-such-program"
ASYNCIO_OPTIONS = ("asyncio_mode=auto", "asyncio_default_fixture_loop_scope=session")
NEEDY_TESTS = f"""
import pytest

@pytest.mark.requires_program("{ABSENT}")
def test_needs_an_absent_program():
    pass

@pytest.mark.requires_program("sh")
def test_needs_sh():
    pass
"""


def run_needy_tests(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest with the suite's conftest as a plugin on a file of two marked tests, in a folder of its own."""
    (folder / "test_needy.py").write_text(NEEDY_TESTS, encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if key != "CI"}
    environment.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-rsfE", "test_needy.py"]
        + [f"--override-ini={option}" for option in ASYNCIO_OPTIONS],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_absent_program_skips_its_test_and_the_summary_says_what_to_install(tmp_path: Path) -> None:
    result = run_needy_tests(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SKIPPED [1] test_needy.py:4: needs {ABSENT} (apt-get install {ABSENT})" in result.stdout
    assert "1 passed, 1 skipped" in result.stdout


def test_with_ci_set_an_absent_program_fails_its_test(tmp_path: Path) -> None:
    result = run_needy_tests(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"ERROR test_needy.py::test_needs_an_absent_program - Failed: needs {ABSENT} (apt-get install {ABSENT}): "
        "CI is set, so a missing program is a failure"
    ) in result.stdout
    assert "1 passed, 1 error" in result.stdout


def test_programs_are_found_on_path_and_in_the_sbin_folders(tmp_path: Path) -> None:
    program = tmp_path / "posts-api-probe"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    assert find_program("posts-api-probe", {"PATH": str(tmp_path)}) == str(program)
    assert find_program("posts-api-probe", {"PATH": ""}) is None
    assert find_program(ABSENT, {"PATH": os.environ.get("PATH", "")}) is None
    assert missing_program(ABSENT, {"PATH": ""}) == f"needs {ABSENT} (apt-get install {ABSENT})"
    assert missing_program("posts-api-probe", {"PATH": str(tmp_path)}) is None
    assert ci({"CI": "true"})
    assert not ci({"CI": ""})
    assert not ci({})


def test_the_balancer_tests_declare_haproxy() -> None:
    mark = tests.test_balancer.pytestmark
    assert (mark.name, mark.args) == ("requires_program", ("haproxy",))
