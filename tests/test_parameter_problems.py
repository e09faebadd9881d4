"""The raw parameter check's whole answer: every broken parameter once, in the handler's order, each with the
first of its values that breaks the rule, whatever order the query was written in."""

from __future__ import annotations

import httpx

from service.params import NOT_AN_INTEGER
from tests.helpers import assert_error


async def test_every_broken_query_parameter_once_in_the_handler_s_order(client: httpx.AsyncClient) -> None:
    query = "q=fine&order=sideways&limit=5&limit=0&limit=abc&role=nobody&offset=%2B1&cursor=x"
    body = assert_error(await client.get(f"/users?{query}"), 400)
    assert body["extra"] == [
        {"key": "limit", "message": "Input should be greater than or equal to 1"},
        {"key": "offset", "message": NOT_AN_INTEGER},
        {"key": "cursor", "message": "String should match pattern '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$'"},
        {"key": "role", "message": "Input should be 'admin' or 'member'"},
        {"key": "order", "message": body["extra"][4]["message"]},
    ]
    assert body["extra"][4]["message"].startswith("Input should be ")
    assert body["detail"] == f"Validation failed for GET /users?{query}"


async def test_path_and_query_problems_together_path_first(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/users/007/posts?limit=101"), 400)
    assert body["extra"] == [
        {"key": "user_id", "message": NOT_AN_INTEGER},
        {"key": "limit", "message": "Input should be less than or equal to 100"},
    ]


async def test_good_and_absent_parameters_pass(client: httpx.AsyncClient) -> None:
    for target in ("/users", "/users?", "/users?role=member&limit=1", "/posts?unknown=%00", "/posts?limit=2&limit=3"):
        assert (await client.get(target)).status_code == 200, target
