"""GET /health while the database answers (the outage case is in tests/test_database_faults.py)."""

from __future__ import annotations

import httpx


async def test_health_reports_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
