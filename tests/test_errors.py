"""The error contract across endpoints: JSON errors, 400/404/405/413/415, hostile input, no leaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import asyncpg
import httpx
import pytest
from tortoise.exceptions import OperationalError, ValidationError

from service.errors import handle_model_validation_error, handle_operational_error
from service.models import Post, User
from service.params import NOT_AN_INTEGER
from tests.conftest import MakePost, MakeUser
from tests.fuzzing import openapi_document
from tests.helpers import assert_error

Headers = Callable[[User], dict[str, str]]
JSON = {"Content-Type": "application/json"}


async def test_malformed_json_is_a_400_that_says_so(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.post("/users", content=b'{"name": "Ada",', headers=JSON), 400)
    assert "malformed" in body["detail"].lower()


@pytest.mark.parametrize("payload", [b"[]", b'"text"', b"42", b"null"])
async def test_a_body_that_is_not_an_object_is_400(client: httpx.AsyncClient, payload: bytes) -> None:
    body = assert_error(await client.post("/users", content=payload, headers=JSON), 400)
    assert all({"key", "message"} <= set(problem) for problem in body["extra"])


async def test_a_missing_body_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/users"), 400)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "xml"]
)
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    payload = json.dumps({"name": "Ada", "email": "ada@example.com", "password": "long enough"})
    response = await client.post("/users", content=payload, headers={"Content-Type": content_type})
    assert_error(response, 415)
    assert await User.all().count() == 0


async def test_json_with_a_charset_is_accepted(client: httpx.AsyncClient) -> None:
    payload = json.dumps({"name": "Ada", "email": "ada@example.com", "password": "long enough"})
    response = await client.post("/users", content=payload, headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201, response.text


async def test_a_body_over_one_mebibyte_is_413_and_writes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    payload = json.dumps({"title": "big", "body": "x" * (1024 * 1024)})
    assert_error(await client.post("/posts", content=payload, headers={**JSON, **token_for(user)}), 413)
    assert await Post.all().count() == 0


async def test_unknown_routes_and_wrong_methods_are_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nowhere"), 404)
    assert_error(await client.put("/posts"), 405)
    assert_error(await client.delete("/users"), 405)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/posts?limit=99999999999999999999999", "limit"),
        ("/posts?offset=99999999999999999999999", "offset"),
        ("/posts?limit=1e3", "limit"),
        ("/posts?author_id=-99999999999999999999999", "author_id"),
        ("/users/99999999999999999999999", "user_id"),
        ("/posts/99999999999999999999999", "post_id"),
    ],
)
async def test_numbers_outside_64_bits_are_400(client: httpx.AsyncClient, path: str, key: str) -> None:
    assert_error(await client.get(path), 400, keys={key})


async def test_huge_numbers_and_wrong_types_in_bodies_are_400(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    headers = token_for(user)
    assert_error(await client.post("/posts", json={"title": 10**40}, headers=headers), 400, keys={"title"})
    assert_error(await client.post("/posts", json={"title": ["a"]}, headers=headers), 400, keys={"title"})
    assert_error(await client.post("/posts", json={"title": {"x": 1}}, headers=headers), 400, keys={"title"})
    assert_error(await client.post("/posts", json={"title": True}, headers=headers), 400, keys={"title"})


@pytest.mark.parametrize("name", ["nul\x00", "bell\x07", "esc\x1b[31m", "del\x7f", "tab\tinside"])
async def test_control_characters_in_one_line_fields_are_400(client: httpx.AsyncClient, name: str) -> None:
    body = {"name": name, "email": "ada@example.com", "password": "long enough"}
    assert_error(await client.post("/users", json=body), 400, keys={"name"})


async def test_unicode_and_emoji_round_trip(client: httpx.AsyncClient) -> None:
    body = {"name": "Zoë 山田 🚀", "email": "zoe@example.com", "password": "pässwörd🔑"}
    response = await client.post("/users", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Zoë 山田 🚀"
    token = await client.post("/auth/token", data={"username": "zoe@example.com", "password": "pässwörd🔑"})
    assert token.status_code == 200


async def test_errors_never_leak_internals(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", content=b"\xff\xfe not json", headers=JSON)
    assert_error(response, 400)
    for marker in ("Traceback", "asyncpg", "tortoise", "SELECT", "password_hash", 'File "'):
        assert marker not in response.text


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/nowhere")
    assert len(generated.headers["x-request-id"]) == 24
    another = await client.get("/nowhere")
    assert another.headers["x-request-id"] != generated.headers["x-request-id"]
    echoed = await client.get("/tags", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/tags", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"


@pytest.mark.parametrize(
    ("path", "key"),
    [("/users/abc", "user_id"), ("/users/1e3/posts", "user_id"), ("/posts/1.5", "post_id"), ("/posts/%20", "post_id")],
)
async def test_a_non_numeric_id_is_the_same_json_400_as_an_out_of_range_one(
    client: httpx.AsyncClient, path: str, key: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"}
    assert [set(problem) for problem in body["extra"]] == [{"key", "message"}]
    assert body["extra"][0]["key"] == key
    out_of_range = (await client.get(f"/users/{2**64}")).json()
    assert [set(problem) for problem in out_of_range["extra"]] == [{"key", "message"}]
    assert out_of_range["extra"][0]["key"] == "user_id"


@pytest.mark.parametrize("path", ["/schema/nope", "/schema/openapi.yaml", "/schema/a/b"])
async def test_unknown_paths_under_schema_are_json_404s(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status_code": 404, "detail": "Not Found"}


@pytest.mark.parametrize(
    ("body", "headers"),
    [(b"", {}), (b"", {"content-type": "application/json"}), (b"   \n", {"content-type": "application/json"})],
)
async def test_a_missing_json_body_is_a_400_that_says_so(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> None:
    response = await client.post("/users", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "status_code": 400,
        "detail": "The request body is missing: this endpoint takes a JSON object",
    }


async def test_a_body_nested_100000_deep_is_a_400(client: httpx.AsyncClient) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        response = await client.post("/users", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert response.json() == {"status_code": 400, "detail": "Malformed JSON body: nested too deeply"}


async def test_error_keys_are_field_paths_one_entry_per_problem(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Callable[[User], dict[str, str]]
) -> None:
    user = await make_user()
    response = await client.patch(f"/users/{user.id}", json={"email": "not-an-email"}, headers=token_for(user))
    body = assert_error(response, 400)
    assert [problem["key"] for problem in body["extra"]] == ["email"]
    assert body["extra"][0]["message"].startswith("Input should be a valid email address: ")
    response = await client.patch(f"/users/{user.id}", json={"name": "", "password": "short"}, headers=token_for(user))
    assert sorted(problem["key"] for problem in assert_error(response, 400)["extra"]) == ["name", "password"]
    post = await Post.create(author_id=user.id, title="t")
    response = await client.patch(f"/posts/{post.id}", json={"tags": ["ok", ""], "title": 5}, headers=token_for(user))
    assert sorted(problem["key"] for problem in assert_error(response, 400)["extra"]) == ["tags.1", "title"]


@pytest.mark.parametrize(
    ("path", "key", "message"),
    [
        ("/posts?limit=0", "limit", "Input should be greater than or equal to 1"),
        ("/posts?offset=-1", "offset", "Input should be greater than or equal to 0"),
        (f"/posts?author_id={2**63}", "author_id", f"Input should be less than or equal to {2**63 - 1}"),
        ("/posts?author_id=x", "author_id", NOT_AN_INTEGER),
        ("/users?role=boss", "role", "Input should be 'admin' or 'member'"),
        (
            "/posts?order=x",
            "order",
            "Input should be 'created_at', '-created_at', 'title', '-title', 'id', '-id' or '-rank'",
        ),
        ("/posts?q=" + "x" * 201, "q", "String should have at most 200 characters"),
        (
            "/posts?tag=a%0Ab",
            "tag",
            "String should contain no control characters (including line breaks); found U+000A",
        ),
        ("/users/abc", "user_id", NOT_AN_INTEGER),
        (f"/posts/{2**64}", "post_id", f"Input should be less than or equal to {2**63 - 1}"),
    ],
)
async def test_query_and_path_problems_carry_exactly_key_and_message(
    client: httpx.AsyncClient, path: str, key: str, message: str
) -> None:
    body = assert_error(await client.get(path), 400)
    assert body["extra"] == [{"key": key, "message": message}]


async def test_messages_read_as_written_with_no_value_error_prefix(
    client: httpx.AsyncClient, make_user: MakeUser, token_for: Headers
) -> None:
    user = await make_user()
    sign_up = {"name": "bell\x07", "email": "a@b.test", "password": "       short       "}
    body = assert_error(await client.post("/users", json=sign_up), 400, keys={"name", "email", "password"})
    messages = {problem["key"]: problem["message"] for problem in body["extra"]}
    assert messages["name"].startswith("String should contain no control characters (including line breaks)")
    assert messages["email"].startswith("Input should be a valid email address: ")
    assert messages["password"] == "String should have at least 8 characters besides surrounding whitespace"
    profile = {"website": "ftp://example.com"}
    response = await client.put(f"/users/{user.id}/profile", json=profile, headers=token_for(user))
    assert assert_error(response, 400, keys={"website"})["extra"][0]["message"] == (
        "Input should be an http:// or https:// URL with a host name or IPv4 address and no spaces"
    )
    response = await client.patch(f"/users/{user.id}", json={"name": None}, headers=token_for(user))
    assert assert_error(response, 400, keys={"name"})["extra"] == [
        {"key": "name", "message": "Input should not be null; leave the field out to keep its value"}
    ]
    response = await client.post("/auth/token", data={"username": "a\nb@example.com", "password": "x"})
    assert assert_error(response, 400, keys={"username"})["extra"][0]["message"].startswith("String should contain no")


DOCUMENT = openapi_document()
PATH_IDS = [
    (method.upper(), template, parameter["name"])
    for template, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "path"
]
QUERY_INTEGERS = [
    (template, parameter["name"])
    for template, operations in DOCUMENT["paths"].items()
    for parameter in operations.get("get", {}).get("parameters", [])
    if parameter["in"] == "query" and "integer" in json.dumps(parameter["schema"])
]
LENIENT_INTEGERS = ["+{n}", "%20{n}", "{n}%20", "0{n}", "{n}.0", "\u0661", "%D9%A1"]
"""Ways of writing a number that int() or a lenient converter reads (the last two: Arabic-Indic digit one)."""


async def test_path_ids_are_ascii_digits_only_on_every_route(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    """``/users/+1``, ``/users/%201``, ``/users/\u0661`` are not user 1: they are what ``/users/abc`` is."""
    assert {(template, name) for _, template, name in PATH_IDS} == {
        ("/users/{user_id}", "user_id"),
        ("/users/{user_id}/profile", "user_id"),
        ("/users/{user_id}/posts", "user_id"),
        ("/posts/{post_id}", "post_id"),
    }
    assert len(PATH_IDS) == 8
    documented = [
        parameter
        for operations in DOCUMENT["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if "integer" in json.dumps(parameter["schema"])
    ]
    assert len(documented) == len(PATH_IDS) + len(QUERY_INTEGERS)
    assert all("written in ASCII digits" in parameter["description"] for parameter in documented)
    user = await make_user()
    post = await make_post(user)
    ids = {"user_id": user.id, "post_id": post}
    for method, template, name in PATH_IDS:
        answers = set()
        for spelling in ["abc", *LENIENT_INTEGERS]:
            path = template.replace(f"{{{name}}}", spelling.format(n=ids[name]))
            response = await client.request(method, path, json={} if method in ("PATCH", "PUT") else None)
            assert response.status_code == 400, (method, path, response.text)
            body = response.json()
            answers.add((body["status_code"], json.dumps(body["extra"])))
        assert answers == {(400, json.dumps([{"key": name, "message": NOT_AN_INTEGER}]))}, (method, template)
    assert (await client.get(f"/users/{user.id}")).status_code == 200


@pytest.mark.parametrize("spelling", ["1.0", "1e3", "+5", " 5", "\u0665", "05", "5_0", ""])
async def test_query_integers_are_never_coerced(client: httpx.AsyncClient, make_user: MakeUser, spelling: str) -> None:
    assert {name for _, name in QUERY_INTEGERS} == {"limit", "offset", "author_id"}
    assert len(QUERY_INTEGERS) == 9
    user = await make_user()
    for template, name in QUERY_INTEGERS:
        path = template.replace("{user_id}", str(user.id))
        body = assert_error(await client.get(path, params={name: spelling}), 400)
        assert body["extra"] == [{"key": name, "message": NOT_AN_INTEGER}], (path, name)


def test_values_the_model_or_database_refuse_are_worded_like_every_other_problem() -> None:
    refused_by_postgres = OperationalError("value too long for type character varying(100)")
    refused_by_postgres.__cause__ = asyncpg.DataError("value too long for type character varying(100)")
    refused_by_the_model = ValidationError("name: Length of 'x' 101 > 100")
    for response in (
        handle_operational_error(cast(Any, None), refused_by_postgres),
        handle_model_validation_error(cast(Any, None), refused_by_the_model),
    ):
        assert response.status_code == 400
        assert response.content == {
            "status_code": 400,
            "detail": "A value in this request cannot be stored",
            "extra": [{"key": "body", "message": "Input should be a value the database can store"}],
        }
