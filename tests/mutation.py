"""Mutation testing of the fast path (service/orm/) and the pool: ``python -m tests.mutation`` (``make mutation``).

Runs mutmut (its settings: ``[tool.mutmut]`` in pyproject.toml) on the mutants of ``SCOPE`` in a fresh
``mutants/`` folder, against one embedded PostgreSQL started here for the whole run (``TEST_DATABASE_URL``: each
mutant's tests create and drop their own database on it, instead of starting a server each), then prints the score:
killed (a test failed, or the tests hung past mutmut's timeout) over all mutants, ``EQUIVALENT`` ones aside.
Extra arguments go to ``mutmut run`` (``--max-children 1``). ``.venv/bin/mutmut results`` lists the survivors and
``.venv/bin/mutmut show NAME`` shows one. After adding tests, ``python -m tests.mutation --survivors [PATTERN...]``
runs again, in the same ``mutants/`` folder, the mutants the last run left alive (and any named by a pattern, such
as the mutants of a function changed since: ``"service.orm.hydration.x_row_hydration__mutmut_*"``), with the tests'
association to functions collected anew, then prints the score of the whole.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.postgres import postgres_server

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
SCOPE = (
    "service.orm.*",
    # the pool of service/db/client.py: not its statement counting, SQL logging or migration lock
    "service.db.client.xǁDeadlineǁ*",
    "service.db.client.xǁTurnsǁ*",
    "service.db.client.xǁBoundedPoolǁ*",
    "service.db.client.xǁ_FairAcquireǁ*",
    "service.db.client.xǁServiceDBClientǁ__init____*",
    "service.db.client.xǁServiceDBClientǁcreate_pool__*",
)
_ZIP = "the two builds' parameter lists were compared for length just above: zip's strict changes nothing"
_MARKERS = "the markers stay distinct from each other and between the two builds whatever the step"
_FILE_NAME = "the file name of generated code shows only in tracebacks"
EQUIVALENT: dict[str, str] = {
    "service.orm.schemas.x__filled_by_values_alone__mutmut_3": "a schema with private attributes always has"
    " __pydantic_post_init__ (pydantic sets it to initialise them), so the private-attribute test never decides",
    "service.orm.schemas.x__plan__mutmut_22": "pydantic refuses field names with a leading underscore, so"
    " name.startswith('_') is never true",
    "service.orm.schemas.x__plan__mutmut_59": "split('=')[0] and split('=', 1)[0] are the same text",
    "service.orm.schemas.x__plan__mutmut_62": "split('=', 2)[0] and split('=', 1)[0] are the same text",
    "service.orm.prefetch.xǁ_RowArrayǁget_sql__mutmut_5": "the inner statement always has a where clause (the"
    " filter on the correlation marker), so wheres is never None",
    "service.orm.prefetch.xǁPrefetchPlanǁ_plan_for__mutmut_23": "the keys given to make_plan only tell their type"
    " (it replaces them by markers): 1 and 0 are both ints",
    "service.orm.prefetch.xǁPrefetchPlanǁ_row_segment__mutmut_9": "related=None is as false as related=False",
    "service.orm.prefetch.x__inlined__mutmut_28": "a reverse name holds no '__': partition and rpartition give the"
    " same first part",
    "service.orm.prefetch.x__inlined__mutmut_26": "the key of a reverse foreign key holds no '__' (author_id):"
    " partitioning it gives it whole",
    "service.orm.prefetch.x_compile_prefetches__mutmut_44": "the container of a reverse one-to-one is None either"
    " way (relation_container knows only the reverse foreign key and many-to-many getters)",
    "service.orm.plans.x_page_total__mutmut_7": "a non-empty first page has a total of at least 1, never 0 or null",
    "service.orm.plans.x__marker__mutmut_3": _MARKERS,
    "service.orm.plans.x__marker__mutmut_5": _MARKERS,
    "service.orm.plans.x__marker__mutmut_10": _MARKERS,
    "service.orm.plans.x__marker__mutmut_12": _MARKERS,
    "service.orm.plans.x__marker__mutmut_17": _MARKERS,
    "service.orm.plans.x__locate__mutmut_18": "a marker occurs once in its LIKE pattern: partition and rpartition"
    " split it alike",
    "service.orm.plans.x_make_plan__mutmut_40": _ZIP,
    "service.orm.plans.x_make_plan__mutmut_43": _ZIP,
    "service.orm.plans.x_make_plan__mutmut_44": _ZIP,
    "service.orm.plans.x_make_plan__mutmut_75": "bool(None) is False, the default it replaces",
    "service.orm.plans.xǁPlanǁinstance__mutmut_15": "Tortoise's executor takes `prefetch_map or {}`: None is the"
    " same empty map",
    "service.orm.plans.xǁPlanǁinstance__mutmut_16": "as 15: the executor takes `prefetch_queries or {}`",
    "service.orm.plans.xǁCompiledǁ_values__mutmut_6": "zip's strict is False by default",
    "service.orm.plans.xǁCompiledǁ_values__mutmut_9": "zip's strict is False by default",
    "service.orm.plans.xǁCompiledǁ_shape__mutmut_5": "the shape only tells which bound values are None: the"
    " negation tells the same",
    "service.orm.plans.xǁCompiledǁ_plan_for__mutmut_14": "the order of the bound names only numbers their markers:"
    " any order locates the same slots",
    "service.orm.plans.xǁCompiledǁ_plan_for__mutmut_16": "as 14",
    "service.orm.hydration.x_fast_converter__mutmut_2": "without the recognised kind the field's own converter is"
    " used, which returns the same values (the fast converters are only faster)",
    "service.orm.hydration.x_fast_converter__mutmut_9": "a UTC value then goes to the field's converter, which"
    " returns the same datetime (the fast converters are only faster)",
    "service.orm.hydration.x_fast_converter__mutmut_31": "every complex field the models hydrate is a datetime (handled"
    " above) and char enums, for which both branches give the same member",
    "service.orm.hydration.x_fast_converter__mutmut_33": "Enum(value) through the field gives the member the table"
    " would give",
    "service.orm.hydration.x_fast_converter__mutmut_34": "as 33: the field's converter gives the same member",
    "service.orm.hydration.x_fast_converter__mutmut_36": "as 33: the field's converter gives the same member",
    "service.orm.hydration.x_row_hydration__mutmut_18": "related=None is as false as related=False",
    "service.orm.hydration.x_row_segment__mutmut_4": "a native column has no converter: the flag is never read",
    "service.orm.hydration.x_row_segment__mutmut_5": "the service's models have no 'default' fields (Tortoise's"
    " db_default_fields, converted by field_type): the entry is never made",
    "service.orm.hydration.x_row_segment__mutmut_6": "as 5",
    "service.orm.hydration.x_row_segment__mutmut_9": "every complex field of the service's models (datetimes, char"
    " enums) converts None to None: skipping the converter for None gives the same value",
    "service.orm.hydration.x_row_segment__mutmut_23": "a related key holds exactly one dot: every split gives the"
    " same column",
    "service.orm.hydration.x_row_segment__mutmut_24": "as 23",
    "service.orm.hydration.x_row_segment__mutmut_26": "as 23",
    "service.orm.hydration.x__hydrator__mutmut_27": "a segment without columns is left to Tortoise (row_hydration"
    " returns None for it), so the 'False' is never written",
    "service.orm.hydration.x__hydrator__mutmut_28": "as 27",
    "service.orm.hydration.x__hydrator__mutmut_29": "as 27",
    "service.orm.hydration.x__hydrator__mutmut_35": "the row's own instance is never None: no guard needed",
    "service.orm.hydration.x__hydrator__mutmut_65": _FILE_NAME,
    "service.orm.hydration.x__hydrator__mutmut_66": _FILE_NAME,
    "service.db.client.xǁTurnsǁtake__mutmut_2": "with a free turn and no waiters, take_within takes it at once too:"
    " the fast path in take only saves arming a deadline",
    "service.db.client.xǁDeadlineǁ__init____mutmut_3": "the message of an assertion that holds (a bounded wait runs"
    " in a task)",
    "service.db.client.xǁDeadlineǁ__init____mutmut_4": "as 3",
    "service.db.client.xǁDeadlineǁ__init____mutmut_8": "expired=None is as false as expired=False",
}
"""Mutants that change no observable behaviour, each with the reason (also listed in docs/testing.md)."""
KILLED = {"killed", "timeout"}


def results() -> dict[str, str]:
    """Every mutant of the last run in ``SCOPE`` and its status (``killed``, ``survived``, ``no tests``, ...)."""
    listing = subprocess.run(
        [MUTMUT, "results", "--all", "true"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    found = {}
    for line in listing.splitlines():
        name, _, status = line.strip().partition(": ")
        if status and any(fnmatch.fnmatchcase(name, pattern) for pattern in SCOPE):
            found[name] = status
    return found


def main(arguments: list[str]) -> int:
    names: list[str] = list(SCOPE)
    if "--survivors" in arguments:
        patterns = [argument for argument in arguments if argument.startswith("service.")]
        arguments = [argument for argument in arguments if argument != "--survivors" and argument not in patterns]
        alive = [name for name, status in results().items() if status not in KILLED and name not in EQUIVALENT]
        names = [*alive, *patterns]
        if not names:
            print("no mutant left alive")
            return 0
        (ROOT / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)  # tests added since: associate them anew
    else:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    started = time.monotonic()
    with postgres_server() as url:
        environment = {**os.environ, "TEST_DATABASE_URL": url}
        run = subprocess.run([MUTMUT, "run", *arguments, *names], cwd=ROOT, env=environment, check=False)
    minutes = (time.monotonic() - started) / 60
    if run.returncode != 0:
        print(f"mutmut run failed ({run.returncode})", file=sys.stderr)
        return run.returncode
    found = results()
    statuses = Counter(status for name, status in found.items() if name not in EQUIVALENT)
    equivalent = sum(name in found for name in EQUIVALENT)
    counted = sum(statuses.values())
    killed = sum(statuses[status] for status in KILLED)
    print(f"{minutes:.0f} min; by status: {dict(statuses)}; equivalent: {equivalent}")
    print(f"mutation score: {killed}/{counted} killed ({100 * killed / counted:.1f}%), {equivalent} equivalent aside")
    for name, status in sorted(found.items()):
        if status not in KILLED and name not in EQUIVALENT:
            print(f"  {status}: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
