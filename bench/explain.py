"""``--explain``: the PostgreSQL plans of the service's statements for the benchmarked reads, on the seeded data.

The statements are the service's own (imported from its query modules), run with EXPLAIN (ANALYZE, BUFFERS) and
representative parameters, so a reader can check that no hot path scans a whole table at any scale.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from service.db import database
from service.models import Role
from service.posts import queries as posts
from service.settings import Settings
from service.users import queries as users


def hot_statements(user_count: int, post_count: int) -> dict[str, tuple[str, list[Any]]]:
    """Statement label -> (SQL, parameters) for the reads the benchmark loads, as the compiled querysets send them."""
    user_id, post_id = max(1, user_count // 2), max(1, post_count // 2)
    second_page_keys = list(range(max(1, post_count - 39), max(2, post_count - 19)))
    return {
        "GET /users/{id}: user, profile, post count, 20 recent posts": users._user_detail.plan(user_id, False),
        "GET /users?role=member: page and total": users._user_page.plan(
            20, None, Role.MEMBER, None, "-created_at", False
        ),
        "GET /posts?limit=20: page with authors, tags and total": posts._post_page.plan(
            20, None, None, None, None, "-created_at"
        ),
        "GET /posts?offset=20: total": posts._count_all.plan(),
        "GET /posts?offset=20: page": posts._post_page.plan(20, 20, None, None, None, "-created_at"),
        "GET /posts?offset=20: tags of the page": posts._post_page.prefetch_plan(
            "tags", second_page_keys, 20, 20, None, None, None, "-created_at"
        ),
        "GET /posts/{id}: post, author and tags": posts._post_by_id.plan(post_id),
    }


async def explain(url: str, user_count: int, post_count: int) -> dict[str, str]:
    """Label -> the text of EXPLAIN (ANALYZE, BUFFERS) for each statement (run twice: the second, warm, kept)."""
    settings = Settings.from_env({"APP_ENV": "test"}, serving=False)
    async with database(settings, url):  # the compiled querysets take their SQL from Tortoise
        statements = hot_statements(user_count, post_count)
    connection = await asyncpg.connect(url)
    try:
        plans = {}
        for label, (statement, params) in statements.items():
            query = f"EXPLAIN (ANALYZE, BUFFERS) {statement}"
            await connection.fetch(query, *params)
            rows = await connection.fetch(query, *params)
            plans[label] = "\n".join(row[0] for row in rows)
        return plans
    finally:
        await connection.close()
