"""``--explain``: the PostgreSQL plans of the service's statements for the benchmarked reads, on the seeded data.

The statements are the service's own (imported from its query modules), run with EXPLAIN (ANALYZE, BUFFERS) and
representative parameters, so a reader can check that no hot path scans a whole table at any scale.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from service.posts import queries as posts
from service.users import queries as users


def hot_statements(user_count: int, post_count: int) -> dict[str, tuple[str, list[Any]]]:
    """Endpoint -> (statement, parameters) for the reads the benchmark loads."""
    return {
        "GET /users/{id}": (users._USER_DETAIL, [max(1, user_count // 2)]),
        "GET /users?role=member": (users._page_sql(True, False, "-created_at"), [20, 0, "member"]),
        "GET /posts?limit=20": (posts._page_sql(False, False, False, "-created_at", False), [20, 0]),
        "GET /posts/{id}": (posts._POST_BY_ID, [max(1, post_count // 2)]),
    }


async def explain(url: str, user_count: int, post_count: int) -> dict[str, str]:
    """Endpoint -> the text of EXPLAIN (ANALYZE, BUFFERS) for its statement (run twice: the second, warm, kept)."""
    connection = await asyncpg.connect(url)
    try:
        plans = {}
        for endpoint, (statement, params) in hot_statements(user_count, post_count).items():
            query = f"EXPLAIN (ANALYZE, BUFFERS) {statement}"
            await connection.fetch(query, *params)
            rows = await connection.fetch(query, *params)
            plans[endpoint] = "\n".join(row[0] for row in rows)
        return plans
    finally:
        await connection.close()
