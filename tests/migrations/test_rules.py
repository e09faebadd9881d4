"""The rules of docs/migrations.md ("Migrations that never stop the service"), checked on every migration file from
``RULES_SINCE`` on (the earlier ones created tables while nothing served them):

- a migration that runs in a transaction sets ``lock_timeout`` first (``SET LOCAL lock_timeout``), in its upgrade
  and in its downgrade (aerich runs every downgrade in one), so a statement that must wait for a table lock gives
  up instead of queueing traffic;
- a migration that does not (``RUN_IN_TRANSACTION = False``) is one statement: several run as one implicit
  transaction, where ``CONCURRENTLY`` and ``COMMIT`` are refused;
- an index on an existing table is built ``CONCURRENTLY`` (in a migration of its own);
- nothing rewrites a table under its exclusive lock: no stored generated column, no column type change, no column
  added with a volatile default or ``NOT NULL`` without a default, no ``VACUUM FULL`` or ``CLUSTER``.

Run it alone with ``.venv/bin/pytest tests/migrations/test_rules.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.migrations import cli

RULES_SINCE = 5
FORBIDDEN = {
    r"GENERATED\s+ALWAYS\s+AS\s*\(.*\)\s*STORED": "a stored generated column rewrites the table",
    r"ALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE": "a column type change rewrites the table",
    r"ADD\s+(COLUMN\s+)?\S+\s+[^,;]*NOT\s+NULL(?![^,;]*DEFAULT)": "NOT NULL without a default fails on rows",
    r"DEFAULT\s+(now|clock_timestamp|random|gen_random_uuid)\s*\(": "a volatile default rewrites the table",
    r"VACUUM\s+FULL|\bCLUSTER\b": "rewrites the table under an exclusive lock",
}


def load(name: str) -> ModuleType:
    path = cli.MIGRATIONS_DIR / "models" / name
    spec = importlib.util.spec_from_file_location(Path(name).stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ruled() -> list[str]:
    return [name for name in cli.migration_files() if int(name.split("_", 1)[0]) >= RULES_SINCE]


def statements(sql: str) -> list[str]:
    """The statements of a script, ignoring comments and the bodies of dollar-quoted functions."""
    without_bodies = re.sub(r"\$\$.*?\$\$", "$$$$", sql, flags=re.DOTALL)
    without_comments = re.sub(r"--[^\n]*", "", without_bodies)
    return [part.strip() for part in without_comments.split(";") if part.strip()]


def problems(module: ModuleType) -> list[str]:
    found = []
    for step in ("upgrade", "downgrade"):
        sql: str = asyncio.run(getattr(module, step)(None))
        parts = statements(sql)
        in_transaction = (module.RUN_IN_TRANSACTION and step == "upgrade") or step == "downgrade"
        if in_transaction and not re.fullmatch(r"SET\s+LOCAL\s+lock_timeout\s*=\s*'\d+m?s'", parts[0], re.I):
            found.append(f"{step}: the first statement must be SET LOCAL lock_timeout, not {parts[0][:40]!r}")
        if not in_transaction and len(parts) != 1:
            found.append(f"{step}: outside a transaction, one statement only ({len(parts)} found)")
        for statement in parts:
            creates_index = re.match(r"CREATE\s+(UNIQUE\s+)?INDEX", statement, re.I)
            if step == "upgrade" and creates_index and "CONCURRENTLY" not in statement.upper():
                found.append(f"upgrade: CREATE INDEX without CONCURRENTLY: {statement[:60]!r}")
            for pattern, why in FORBIDDEN.items():
                if re.search(pattern, statement, re.I | re.DOTALL):
                    found.append(f"{step}: {why}: {statement[:60]!r}")
    return found


@pytest.mark.parametrize("name", ruled())
def test_migration_follows_the_rules(name: str) -> None:
    assert problems(load(name)) == []


def test_the_rules_can_fail() -> None:
    bad = ModuleType("bad")
    bad.RUN_IN_TRANSACTION = True  # type: ignore[attr-defined]

    async def upgrade(db: object) -> str:
        return 'ALTER TABLE p ADD "v" TSVECTOR GENERATED ALWAYS AS (to_tsvector(t)) STORED; CREATE INDEX i ON p (v)'

    async def downgrade(db: object) -> str:
        return "SET LOCAL lock_timeout = '500ms'; DROP INDEX i; DROP INDEX j"

    bad.upgrade = upgrade  # type: ignore[attr-defined]
    bad.downgrade = downgrade  # type: ignore[attr-defined]
    found = problems(bad)
    assert len(found) == 3, found
    bad.RUN_IN_TRANSACTION = False  # type: ignore[attr-defined]
    assert any("one statement only" in problem for problem in problems(bad))
    assert ruled(), "no migration is checked"
