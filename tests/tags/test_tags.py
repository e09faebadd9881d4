"""GET /tags: every tag, ordered by name, with how many posts carry it."""

from __future__ import annotations

import httpx

from tests.conftest import MakePost, MakeUser
from tests.helpers import PAGE_KEYS, TAG_KEYS, assert_error


async def test_tags_are_listed_by_name_with_post_counts(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    user = await make_user()
    await make_post(user, tags=["zebra", "apple"])
    await make_post(user, tags=["apple"])
    await make_post(user, tags=["mango", "apple"])
    page = (await client.get("/tags")).json()
    assert set(page) == PAGE_KEYS
    assert all(set(item) == TAG_KEYS for item in page["items"])
    assert [(item["name"], item["post_count"]) for item in page["items"]] == [("apple", 3), ("mango", 1), ("zebra", 1)]
    assert page["total"] == 3
    second = (await client.get("/tags", params={"limit": 1, "offset": 1})).json()
    assert [item["name"] for item in second["items"]] == ["mango"]
    assert (await client.get("/tags", params={"offset": 3})).json()["items"] == []


async def test_tags_reject_bad_pages(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/tags", params={"limit": 1000}), 400, keys={"limit"})
