"""Assertions shared by the contract tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

USER_KEYS = {"id", "name", "email", "role", "created_at", "updated_at"}
USER_DETAIL_KEYS = USER_KEYS | {"profile", "post_count", "posts"}
PUBLIC_USER_KEYS = USER_KEYS - {"email"}
"""A user as anyone but the user themself and admins sees them."""
PUBLIC_USER_DETAIL_KEYS = USER_DETAIL_KEYS - {"email"}
POST_SUMMARY_KEYS = {"id", "title", "author_id", "created_at"}
POST_KEYS = {"id", "title", "body", "author_id", "author", "tags", "created_at", "updated_at"}
PAGE_KEYS = {"items", "limit", "offset", "total", "next_cursor"}
PROFILE_KEYS = {"bio", "website"}
TAG_KEYS = {"id", "name", "post_count"}


def assert_error(response: httpx.Response, status: int, *, keys: set[str] | None = None) -> dict[str, Any]:
    """The contract's error shape with ``status``; with ``keys``, a 400 naming exactly those fields."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status_code"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if keys is not None:
        assert {problem["key"] for problem in body["extra"]} == keys, body
        assert all(isinstance(problem["message"], str) and problem["message"] for problem in body["extra"])
    return body


def assert_utc_timestamp(value: str) -> None:
    """ISO 8601 with an explicit UTC offset."""
    offset = datetime.fromisoformat(value).utcoffset()
    assert offset is not None, value
    assert offset.total_seconds() == 0, value
    assert value.endswith(("Z", "+00:00")), value
