"""The OpenAPI document and the docs page: complete, valid for Swagger UI, and served without internet."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

CONTRACT: dict[tuple[str, str], set[str]] = {
    ("post", "/auth/token"): {"200", "400", "401", "413", "415", "429", "503"},
    ("post", "/auth/logout"): {"204", "401", "503"},
    ("get", "/users/me"): {"200", "304", "401", "503"},
    ("post", "/users"): {"201", "400", "401", "403", "409", "413", "415", "422", "503"},
    ("get", "/users"): {"200", "304", "400", "401", "503"},
    ("get", "/users/{user_id}"): {"200", "304", "400", "401", "404", "503"},
    ("patch", "/users/{user_id}"): {"200", "400", "401", "403", "404", "409", "412", "413", "415", "428", "503"},
    ("delete", "/users/{user_id}"): {"204", "400", "401", "403", "404", "412", "428", "503"},
    ("put", "/users/{user_id}/profile"): {"200", "400", "401", "403", "404", "412", "413", "415", "428", "503"},
    ("get", "/users/{user_id}/posts"): {"200", "304", "400", "404", "503"},
    ("post", "/posts"): {"201", "400", "401", "409", "413", "415", "422", "503"},
    ("get", "/posts"): {"200", "304", "400", "503"},
    ("get", "/posts/{post_id}"): {"200", "304", "400", "404", "503"},
    ("patch", "/posts/{post_id}"): {"200", "400", "401", "403", "404", "412", "413", "415", "428", "503"},
    ("delete", "/posts/{post_id}"): {"204", "400", "401", "403", "404", "412", "428", "503"},
    ("get", "/tags"): {"200", "304", "400", "503"},
    ("get", "/health"): {"200", "503"},
}
TOKEN_REQUIRED = {
    ("get", "/users/me"),
    ("post", "/auth/logout"),
    ("patch", "/users/{user_id}"),
    ("delete", "/users/{user_id}"),
    ("put", "/users/{user_id}/profile"),
    ("post", "/posts"),
    ("patch", "/posts/{post_id}"),
    ("delete", "/posts/{post_id}"),
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def test_the_document_lists_exactly_the_contract_with_its_status_codes(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == set(CONTRACT)
    for (method, path), codes in CONTRACT.items():
        assert set(document["paths"][path][method]["responses"]) == codes, (method, path)


async def test_token_endpoints_declare_a_bearer_token_and_public_ones_no_security(document: dict[str, Any]) -> None:
    """Swagger UI's Authorize dialog asks for the token alone (no client id, secret or scopes); no lock on the
    operations that need none."""
    assert document["components"]["securitySchemes"] == {
        "BearerToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "The access_token that POST /auth/token returns (form fields: username = your email, password), "
                "sent as 'Authorization: Bearer <token>'."
            ),
        }
    }
    assert "security" not in document  # no global requirement: an operation without its own needs no token
    assert "POST /auth/token" in document["info"]["description"]
    for method, path in CONTRACT:
        security = document["paths"][path][method].get("security")
        if (method, path) in TOKEN_REQUIRED:
            assert security == [{"BearerToken": []}], (method, path)
        elif (method, path) in {("post", "/users"), ("get", "/users"), ("get", "/users/{user_id}")}:
            assert security == [{}, {"BearerToken": []}], (method, path)  # optional: it changes the answer
        else:
            assert security is None, (method, path)


async def test_bodies_and_nullable_fields_are_described(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "nullable" not in str(schemas)
    detail = schemas["UserDetailRead"]
    assert set(detail["required"]) >= {"id", "name", "email", "post_count", "posts", "profile"}
    profile = detail["properties"]["profile"]
    assert {"type": "null"} in profile["oneOf"]
    assert schemas["PostRead"]["properties"]["tags"] == {"items": {"type": "string"}, "type": "array"}
    assert "password" not in schemas["UserRead"]["properties"]
    assert "password_hash" not in str(schemas)
    create = document["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/UserCreate"}
    token = document["paths"]["/auth/token"]["post"]["requestBody"]["content"]
    assert set(token) == {"application/x-www-form-urlencoded"}


async def test_the_docs_page_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    assert not re.search(r"""(src|href)=["']https?://""", page.text)
    assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", page.text)
    assert len(assets) >= 3
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 500, asset


def _bounds(node: Any) -> list[tuple[str, Any]]:
    """Every minimum/maximum in the document, with the key it sits under."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                found.append((key, value))
            found.extend(_bounds(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_bounds(item))
    return found


async def test_integer_bounds_are_exact_integers(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    """A 64-bit id's bounds are 2**63 - 1 and -2**63 exactly, not the float 9.223372036854776e18."""
    raw = (await client.get("/schema/openapi.json")).text
    assert "e+18" not in raw
    assert "e18" not in raw
    bounds = _bounds(document)
    assert bounds
    assert all(type(value) is int for _, value in bounds), bounds
    (user_id,) = [p for p in document["paths"]["/users/{user_id}"]["get"]["parameters"] if p["in"] == "path"]
    assert (user_id["schema"]["minimum"], user_id["schema"]["maximum"]) == (-(2**63), 2**63 - 1)
    assert (await client.get(f"/users/{2**63 - 1}")).status_code == 404  # the bound itself is accepted
    assert (await client.get(f"/users/{2**63}")).status_code == 400


async def test_options_lists_every_method_of_each_path(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    """The document's methods, OPTIONS, and HEAD wherever GET is (HEAD is not documented: it is GET's twin)."""
    for template, operations in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        response = await client.options(path)
        assert response.status_code == 204, path
        allowed = {method.strip() for method in response.headers["allow"].split(",")}
        documented = {method.upper() for method in operations}
        assert allowed == documented | {"OPTIONS"} | ({"HEAD"} if "GET" in documented else set()), path


async def test_update_fields_that_refuse_null_are_not_nullable(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    user, post, signup = schemas["UserUpdate"]["properties"], schemas["PostUpdate"]["properties"], schemas["UserCreate"]
    for field in ("name", "email", "password"):
        assert "oneOf" not in user[field], field
        assert "anyOf" not in user[field], field
        assert user[field]["type"] == "string", field
        assert "default" not in user[field], field
    assert user["role"] == {"$ref": "#/components/schemas/Role", "description": "Changing it is admin-only"}
    for field in ("title", "tags"):
        assert "oneOf" not in post[field], field
        assert "anyOf" not in post[field], field
    assert {"type": "null"} in post["body"]["anyOf"]  # null clears a post's body
    assert user["email"]["format"] == "email"
    for field in ("name", "email", "password"):  # the same rules as at sign-up
        for rule in ("minLength", "maxLength", "format", "pattern", "not"):
            assert user[field].get(rule) == signup["properties"][field].get(rule), (field, rule)
    assert (signup["properties"]["password"]["minLength"], signup["properties"]["password"]["maxLength"]) == (8, 128)


async def test_validators_are_documented_where_they_apply(document: dict[str, Any]) -> None:
    for (method, path), codes in CONTRACT.items():
        operation = document["paths"][path][method]
        headers = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "header"}
        assert ("If-None-Match" in headers) is ("304" in codes), (method, path)
        assert ("If-Match" in headers) is ("412" in codes), (method, path)
        for code in {"200", "201"} & codes:
            shown = "ETag" in operation["responses"][code].get("headers", {})
            assert shown is (path not in ("/health", "/auth/token")), (method, path)
        assert ("Idempotency-Key" in headers) is ((method, path) in {("post", "/users"), ("post", "/posts")})
