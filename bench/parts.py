"""``python -m bench.parts``: where the service's instructions go for a page of posts (``GET /posts?limit=20``),
part by part, in process, counted by valgrind (callgrind): the same figures for the same code on any run.

``python -m bench.instructions`` gives a request's whole count over HTTP; this one splits the read the handler
makes into the parts the fast path is made of, each run ``--pages`` times on the same seeded data and divided:

- ``read``: ``service.posts.queries.list_posts`` for the first page, everything below but the JSON;
- ``statement``: the compiled statement on the pool (Tortoise's client, the pool's turn, asyncpg's protocol and
  the decoding of the rows, the tags an array of records in each row);
- ``statement, one asyncpg connection``: the same statement and parameters on a bare asyncpg connection, the
  floor any client of this statement pays;
- ``hydration``: the rows made into model instances (posts, authors, tags, their relation containers), released;
- ``schemas``: the 20 ``PostRead`` instances filled from the instances (``from_orm``);
- ``entity tag``: the page's tag from the rows' ids and versions (``service.versions``);
- ``JSON``: the page encoded (``service.responses.render_json``).

Needs valgrind (``apt-get install valgrind``). Starts a throwaway PostgreSQL (or uses ``BENCH_DATABASE_URL``/
``DATABASE_URL``'s server), migrates and seeds a database, runs itself under callgrind and prints thousands of
instructions per page for each part.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench import seed, servers
from bench.instructions import _dumped

PARTS = (
    "read",
    "statement",
    "statement, one asyncpg connection",
    "hydration",
    "schemas",
    "entity tag",
    "JSON",
)


def _control(*command: str) -> None:
    subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True, capture_output=True)


async def _count(label: str, pages: int, part: Callable[[], Awaitable[Any] | Any]) -> None:
    """Run ``part`` ``pages`` times between a zeroed count and a dump named ``label``."""
    _control("-z")
    for _ in range(pages):
        result = part()
        if asyncio.iscoroutine(result):
            await result
    _control("-d", label)


async def child(url: str, pages: int) -> None:
    """Under callgrind: count each part (run from ``main``)."""
    import asyncpg

    from service import db
    from service.orm import release
    from service.orm.plans import _connection
    from service.pages import Paging
    from service.posts import queries, schemas
    from service.responses import render_json
    from service.settings import Settings
    from service.versions import page_tag, post_numbers

    settings = Settings.from_env({"DATABASE_URL": url}, serving=False)
    async with db.database(settings, url):
        queries.offer = lambda tag: None  # no conditional request around the read: its tag is only computed
        paging = Paging(limit=20, offset=0, start=None, order="-created_at", scope=b"bench", secret=b"s" * 32)
        arguments = ((20, None, None, None, None, "-created_at"), {"search": None, "language": "english"})
        values = queries._post_page._values(*arguments)
        plan = queries._post_page._plan_for(values)
        connection = _connection(plan.template.model, False)
        raw = await asyncpg.connect(url)
        _, rows = await connection.execute_query(plan.sql, plan.bind(values))
        assert plan.hydration is not None
        hydration = plan.hydration
        posts = hydration.instances(rows)
        page = await queries.list_posts(paging)
        for _ in range(20):  # warm every path once more
            await queries.list_posts(paging)
            render_json(page)
        parts: dict[str, Callable[[], Any]] = {
            "read": lambda: queries.list_posts(paging),
            "statement": lambda: connection.execute_query(plan.sql, plan.bind(values)),
            "statement, one asyncpg connection": lambda: raw.fetch(plan.sql, *plan.bind(values)),
            "hydration": lambda: release(hydration.instances(rows), "tags"),
            "schemas": lambda: [queries._read_post(post) for post in posts],
            "entity tag": lambda: page_tag(schemas.PostRead, page, post_numbers(posts)),
            "JSON": lambda: render_json(page),
        }
        for label in PARTS:
            await _count(label, pages, parts[label])
        await raw.close()
        release(posts, "tags")


async def prepare(server_url: str, args: argparse.Namespace, work: Path) -> dict[str, float]:
    from service import db
    from service.security import hash_password
    from service.settings import Settings

    async with servers.fresh_database(server_url) as url:
        await db.upgrade(Settings.from_env({"DATABASE_URL": url}, serving=False), url)
        await seed.seed(url, args.users, await hash_password(seed.PASSWORD))
        out = work / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
        command += ["-m", "bench.parts", "--child", url, "--pages", str(args.pages)]
        run = await asyncio.to_thread(subprocess.run, command, cwd=servers.ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            raise servers.BenchError(f"the counted run failed ({run.returncode}): {run.stderr[-2000:]}")
    # Dump n is part n (1-based); the last file is the count at exit.
    return {label: _dumped(Path(f"{out}.{number}")) / args.pages / 1000 for number, label in enumerate(PARTS, 1)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.parts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100, help="counted runs of each part (default 100)")
    parser.add_argument("--users", type=int, default=1000, help="users to seed (default 1000)")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        asyncio.run(child(args.child, args.pages))
        return 0
    missing = [program for program in ("valgrind", "callgrind_control") if shutil.which(program) is None]
    if missing:
        print(f"FAILED: needs {' and '.join(missing)} (apt-get install valgrind)", flush=True)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="posts-api-parts-") as folder:
            work = Path(folder)
            with servers.postgres_server(work) as (server_url, _):
                figures = asyncio.run(prepare(server_url, args, work))
    except servers.BenchError as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    print("Thousands of instructions per page of 20 posts, in process (callgrind)")
    for label, thousands in figures.items():
        print(f"  {label:36s} {thousands:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
