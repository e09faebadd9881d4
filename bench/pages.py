"""``python -m bench.pages``: what a deep page costs by offset and by cursor, on 100,000 posts.

Seeds 20,000 users with 5 posts each (``bench.seed``) into a fresh database, then times the service's own
``list_posts`` (the compiled statement, hydration and schemas, in process) for the first page, page 1,000 by
offset and page 1,000 by cursor (the cursor the 999th page hands out), newest first, 20 a page. Prints the median
and 95th percentile per call and PostgreSQL's execution time (EXPLAIN ANALYZE) of each statement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench.seed import seed
from bench.servers import fresh_database, postgres_server
from service import db
from service.models import Post
from service.pages import Position, paging
from service.posts import queries
from service.settings import Settings

LIMIT = 20
PAGE = 1_000
SECRET = "bench-secret-" + "x" * 32


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """Median and 95th percentile of ``call``'s wall time in milliseconds (after a warm-up)."""
    for _ in range(10):
        await call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def execution_ms(url: str, sql: str, params: list[Any]) -> float:
    connection = await asyncpg.connect(url)
    try:
        for _ in range(3):
            rows = await connection.fetch(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *params)
        plan: Any = rows[0][0]
        return float(json.loads(plan)[0]["Execution Time"])
    finally:
        await connection.close()


async def measure(url: str, runs: int) -> dict[str, tuple[float, float, float]]:
    settings = Settings.from_env({"APP_ENV": "test"}, serving=False)
    async with db.database(settings, url):
        skipped = (PAGE - 1) * LIMIT
        last = await Post.all().order_by("-created_at", "-id").offset(skipped - 1).only("id", "created_at").first()
        assert last is not None
        start = paging(SECRET, "posts", LIMIT, None, None, "-created_at", author_id=None, tag=None, q=None)
        cursor = start.cursor(Position(last.created_at, last.id))
        first = start
        by_offset = paging(SECRET, "posts", LIMIT, skipped, None, "-created_at", author_id=None, tag=None, q=None)
        by_cursor = paging(SECRET, "posts", LIMIT, None, cursor, "-created_at", author_id=None, tag=None, q=None)
        deep = await queries.list_posts(by_cursor)
        assert [post.id for post in deep.items] == [post.id for post in (await queries.list_posts(by_offset)).items]
        cases = {
            "page 1 (offset 0, with the total)": (
                first,
                queries._post_page.plan(LIMIT + 1, None, None, None, None, "-created_at"),
            ),
            f"page {PAGE} by offset ({skipped} skipped)": (
                by_offset,
                queries._post_page.plan(LIMIT + 1, skipped, None, None, None, "-created_at"),
            ),
            f"page {PAGE} by cursor": (
                by_cursor,
                queries._post_page.plan(LIMIT + 1, None, None, None, None, "-created_at", last.created_at, last.id),
            ),
        }
        results = {}
        for label, (page, (sql, params)) in cases.items():
            median, p95 = await timed(lambda page=page: queries.list_posts(page), runs)
            results[label] = (median, p95, await execution_ms(url, sql, params))
        return results


async def run(users: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as workdir, postgres_server(Path(workdir)) as (server_url, described):
        async with fresh_database(server_url) as url:
            settings = Settings.from_env({"APP_ENV": "test"}, serving=False)
            await db.upgrade(settings, url)
            data = await seed(url, users, "not a real hash")
            print(f"{described}: {data.posts} posts, {data.users} users")
            results = await measure(url, runs)
    first = results["page 1 (offset 0, with the total)"][0]
    print(f"{'read':<40} {'median ms':>10} {'p95 ms':>8} {'x page 1':>9} {'SQL exec ms':>12}")
    for label, (median, p95, execution) in results.items():
        print(f"{label:<40} {median:>10.2f} {p95:>8.2f} {median / first:>9.2f} {execution:>12.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    parser.add_argument("--users", type=int, default=20_000, help="users to seed (5 posts each)")
    parser.add_argument("--runs", type=int, default=300, help="timed calls per read")
    args = parser.parse_args(argv)
    asyncio.run(run(args.users, args.runs))


if __name__ == "__main__":
    main()
