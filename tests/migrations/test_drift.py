"""The models and the migrations agree: aerich's own diff (``migrate --offline``) finds nothing to generate.

The check runs ``aerich migrate --offline`` against a temporary copy of migrations/ (through a temporary aerich.ini
whose ``location`` points at the copy), so whatever aerich generates never lands in the repository. Offline, aerich
diffs the models against the ``MODELS_STATE`` of the latest migration file and needs no database, but importing
``service.db.config.TORTOISE_ORM`` without DATABASE_URL would start the embedded server: the subprocess gets a URL of a
server that does not exist. A second test proves the gate can fail, with a copy of service/models.py that has one
more field, loaded through a config module on PYTHONPATH.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

from service import db
from tests.migrations import cli

UNREACHABLE_DATABASE = "postgres://drift:unused@127.0.0.1:9/not_a_database"
NO_CHANGES = "No changes detected"


@dataclass(frozen=True)
class Drift:
    result: cli.Result
    generated: dict[str, str]  # file name -> content of each migration aerich wrote into the copy

    @property
    def report(self) -> str:
        files = "\n".join(
            f"--- {name}\n{text.split('MODELS_STATE =', 1)[0].rstrip()}"
            for name, text in sorted(self.generated.items())
        )
        return f"{self.result.output}\n{files}"


async def aerich_diff(
    workdir: Path, tortoise_orm: str = "service.db.config.TORTOISE_ORM", pythonpath: str = ""
) -> Drift:
    """``aerich migrate --offline --name drift_check`` on a copy of migrations/ in ``workdir``."""
    location = workdir / "migrations"
    shutil.copytree(cli.MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    before = {path.name for path in (location / db.APP_LABEL).iterdir()}
    config = cli.write_config(workdir / "aerich.ini", location, tortoise_orm)
    extra = {"PYTHONPATH": pythonpath} if pythonpath else {}
    result = await cli.aerich(
        UNREACHABLE_DATABASE, "migrate", "--offline", "--name", "drift_check", config=config, extra_env=extra
    )
    generated = {path.name: path.read_text() for path in (location / db.APP_LABEL).iterdir() if path.name not in before}
    return Drift(result, generated)


async def test_models_match_the_migrations(tmp_path: Path) -> None:
    drift = await aerich_diff(tmp_path)
    assert NO_CHANGES in drift.result.stdout, (
        "the models differ from the latest migration's MODELS_STATE; generate a migration with "
        "`aerich -c aerich.ini migrate --name <name>` and review its SQL. aerich's diff:\n" + drift.report
    )
    assert drift.generated == {}


# A config module for the probe: the service's own TORTOISE_ORM, but with the probe's copy of the models.
PROBE_CONFIG = """\
from service.db import tortoise_config
from service.settings import Settings

settings = Settings.from_env()
TORTOISE_ORM = tortoise_config(settings.database_url, settings.pool, migration_lock=True)
TORTOISE_ORM["apps"]["models"]["models"] = ["drift_probe_models", "aerich.models"]
"""


def models_with_extra_field(source: str, model: str, line: str) -> str:
    """``source`` (service/models.py) with ``line`` added as the first field of class ``model``."""
    tree = ast.parse(source)
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == model)
    first = cls.body[0]
    lines = source.splitlines(keepends=True)
    assert first.end_lineno is not None
    lines.insert(first.end_lineno, " " * first.col_offset + line + "\n")
    return "".join(lines)


async def test_the_drift_check_reports_a_field_missing_from_the_migrations(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    source = (cli.PROJECT_ROOT / "service" / "models.py").read_text()
    field = 'drift_probe = fields.CharField(max_length=40, null=True, description="added by the drift test")'
    (probe / "drift_probe_models.py").write_text(models_with_extra_field(source, "User", field))
    (probe / "drift_probe_config.py").write_text(PROBE_CONFIG)

    drift = await aerich_diff(tmp_path, "drift_probe_config.TORTOISE_ORM", pythonpath=str(probe))

    assert NO_CHANGES not in drift.result.stdout, drift.report
    assert "Success creating migration file" in drift.result.stdout, drift.report
    [(name, text)] = drift.generated.items()
    assert name.startswith(f"{len(cli.migration_files())}_"), name
    assert name.endswith("_drift_check.py"), name
    assert 'ALTER TABLE "users" ADD "drift_probe" VARCHAR(40)' in text, drift.report
    assert 'ALTER TABLE "users" DROP COLUMN "drift_probe"' in text, drift.report
