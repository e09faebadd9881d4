"""Fuzzing: the real server (uvicorn on PostgreSQL, over HTTP) against its own OpenAPI document, with schemathesis.

Every operation in the document gets schemathesis' examples, coverage and fuzzing phases, positive and negative
cases. Each case is sent without a token and with a member's valid bearer token; on an operation with an id in its
path it is also sent, with the token, for the member's own user or post, so that the generated bodies get past the
permission checks. Every response passes all of schemathesis' checks (``CHECKS``): no 5xx; a status code, content
type, headers and body the document declares; a request the document calls valid is accepted, one it calls invalid
is refused; authentication is not ignored.

CI fuzzes ``tests.fuzzing.DEFAULT_EXAMPLES`` cases per operation with a fixed seed. A longer session, with a new
seed each time (a failure's report shows the command that replays it)::

    FUZZ_EXAMPLES=1000 FUZZ_SEED=random .venv/bin/pytest tests/test_fuzz.py

A list's ``cursor`` is valid only as a ``next_cursor`` the service handed out for the same list, filters and order,
and never with ``offset`` (the parameters' descriptions say so; OpenAPI cannot state either rule): a positive case
with a cursor gets a real one for its own query, fetched from the server, and loses its offset
(``with_real_cursor``). Negative cases keep whatever cursor was generated, which the service must refuse.

Each operation is a test item named after it (``-k 'PATCH and posts'`` selects one); under pytest 9.2 the items
share one node id, since schemathesis' collector sets only their names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode, checks

from tests.fuzzing import Account, Budget, openapi_document, schemathesis_config
from tests.serving import Served, serve

checks.load_all_checks()
CHECKS = list(checks.CHECKS.get_all())
"""Every check schemathesis has: besides status codes, content types and response bodies, that every request the
document calls valid is accepted and every one it calls invalid is refused, that authentication is not ignored, ..."""
BUDGET = Budget.from_env()
DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis_config(BUDGET))

SERVER_ENV = {
    # Fuzzing fails many sign-ins from one address; the default (5 per 5 minutes) would soon answer 429 to the
    # account's own sign-in too. 429 stays reachable and documented; it is tested in tests/auth.
    "LOGIN_MAX_FAILURES": "10000",
    "LOGIN_WINDOW_SECONDS": "60",
}


@pytest.fixture(scope="module")
def fuzz_server(database_url: str, app: Any) -> Iterator[Served]:
    """The service as a real process; ``app`` makes the suite empty the tables after each operation's test."""
    with serve(database_url, **SERVER_ENV) as served:
        served_document = httpx.get(f"{served.base_url}/schema/openapi.json").json()
        assert served_document == DOCUMENT, "the server serves another document than the one the cases come from"
        yield served


@pytest.fixture
def account(fuzz_server: Served, request: pytest.FixtureRequest) -> Iterator[Account]:
    request.node.add_report_section("call", "replay", f"Replay this fuzzing session: {BUDGET.rerun}\n")
    account = Account(fuzz_server.base_url)
    yield account
    account.close()


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the account is meant to outlive a case
def test_every_operation_conforms_to_the_document(case: Case, fuzz_server: Served, account: Account) -> None:
    send_and_check(case, fuzz_server.base_url, account)


def with_real_cursor(case: Case, base_url: str) -> None:
    """Give a positive case that carries a cursor the service's own cursor for its list, filters and order (or
    none, when the list has no second page), and no offset."""
    query = case.query
    if not query or "cursor" not in query:
        return  # (case.meta is not read: reading it re-derives the case's validity from its edited parts)
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return
    first = {name: value for name, value in query.items() if name not in ("cursor", "offset", "limit")}
    path = case.formatted_path
    response = httpx.get(f"{base_url}{path}", params={**first, "limit": 1}, timeout=10)
    cursor = response.json().get("next_cursor") if response.status_code == 200 else None
    query.pop("offset", None)
    if cursor is None:
        query.pop("cursor")
    else:
        query["cursor"] = cursor


def send_and_check(case: Case, base_url: str, account: Account) -> None:
    with_real_cursor(case, base_url)
    case.call_and_validate(base_url=base_url, checks=CHECKS)
    response = case.call_and_validate(base_url=base_url, headers=account.headers, checks=CHECKS)
    keep_account_usable(case, account, response.status_code)
    if not case.path_parameters or invalid_path(case):
        return
    own = case.derive()
    own.path_parameters = {name: own_id(account, name, value) for name, value in case.path_parameters.items()}
    with_real_cursor(own, base_url)
    key = json.dumps([own.method, own.path, own.query, own.body, dict(own.headers or {})], default=repr)
    if key in account.sent:
        return  # e.g. DELETE /users/{own id}: the same request whatever was generated
    response = own.call_and_validate(base_url=base_url, headers=account.headers, checks=CHECKS)
    account.sent.add(key)
    keep_account_usable(own, account, response.status_code)


def invalid_path(case: Case) -> bool:
    """Whether the case's path parameters are what makes it invalid: put the member's own ids in their place and
    what is left may be valid (or invalid only in ways the case's metadata no longer describes), so it is not sent."""
    meta = case.meta
    return meta is not None and any(
        getattr(location, "value", location) == "path" and info.mode == GenerationMode.NEGATIVE
        for location, info in meta.components.items()
    )


def own_id(account: Account, name: str, generated: Any) -> Any:
    return {"user_id": account.user_id, "post_id": account.post_id}.get(name, generated)


def needs_token(case: Case) -> bool:
    operation = DOCUMENT["paths"].get(case.path, {}).get(case.method.lower(), {})
    return bool(operation.get("security"))


def keep_account_usable(case: Case, account: Account, status: int) -> None:
    """A new member once the token stopped working (account deleted, password changed, signed out); a new post once
    deleted."""
    template = (case.method.upper(), case.path)
    own_user = case.path_parameters.get("user_id") == account.user_id
    own_post = case.path_parameters.get("post_id") == account.post_id
    password_changed = isinstance(case.body, dict) and case.body.get("password") is not None
    if status == 401 and needs_token(case):
        account.renew()  # a safety net: a case revoked the token in a way the branches below do not foresee
    elif (
        own_user
        and (
            (template == ("DELETE", "/users/{user_id}") and status == 204)
            or (template == ("PATCH", "/users/{user_id}") and status == 200 and password_changed)
        )
    ) or (template == ("POST", "/auth/logout") and status == 204):
        account.renew()
    elif template == ("DELETE", "/posts/{post_id}") and status == 204 and own_post:
        account.new_post()


def test_fuzzing_runs_every_check_schemathesis_has() -> None:
    names = {check.__name__ for check in CHECKS}
    assert {"positive_data_acceptance", "negative_data_rejection", "ignored_auth", "not_a_server_error"} <= names
    assert len(names) == len(CHECKS) >= 14


def test_the_authentication_check_sees_the_bearer_header_of_every_operation_that_takes_a_token() -> None:
    """ignored_auth probes an operation without a token and with a bad one only where the document's scheme says
    which header carries it (an OAuth2 scheme does not: the check then had nothing to probe)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    carried = {
        (operation.method.upper(), operation.path): [
            (p.name, p.location.value) for p in operation.security.iter_parameters()
        ]
        for operation in operations
    }
    takes_token = {key for key, parameters in carried.items() if parameters}
    assert takes_token == {
        ("POST", "/users"),
        ("GET", "/users"),
        ("GET", "/users/{user_id}"),
        ("POST", "/auth/logout"),
        ("GET", "/users/me"),
        ("PATCH", "/users/{user_id}"),
        ("DELETE", "/users/{user_id}"),
        ("PUT", "/users/{user_id}/profile"),
        ("POST", "/posts"),
        ("PATCH", "/posts/{post_id}"),
        ("DELETE", "/posts/{post_id}"),
    }
    assert all(carried[key] == [("Authorization", "header")] for key in takes_token)
