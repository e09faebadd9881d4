"""Fixtures: one throwaway database per run (built by the aerich migrations), the app, clients and factories."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from service import db
from service.app import create_app
from service.models import Role, User
from service.orm import fast_path
from service.posts.queries import create_post
from service.security import _hasher, issue_token
from service.settings import Settings
from tests.postgres import create_database, drop_database, postgres_server

PASSWORD = "correct horse battery"
_PASSWORD_HASH = _hasher.hash(PASSWORD)
_emails = itertools.count(1)
SYSTEM_BIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
"""Where Debian puts daemons such as haproxy, often not on a user's PATH."""


def find_program(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The path of the system program ``name`` (on PATH, or in the sbin folders), or None."""
    env = os.environ if env is None else env
    return shutil.which(name, path=os.pathsep.join([env.get("PATH", ""), *SYSTEM_BIN_DIRS]))


def missing_program(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why a test needing the system program ``name`` cannot run here (what to install), or None if it can."""
    return None if find_program(name, env) is not None else f"needs {name} (apt-get install {name})"


def ci(env: Mapping[str, str] | None = None) -> bool:
    """Whether this run is CI's (``CI`` set, as .ci/run sets it): there a missing program fails its tests."""
    return bool((os.environ if env is None else env).get("CI", "").strip())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_program(name): the test runs a system program; skipped when it is absent (a failure when CI is set)",
    )


def _missing_programs(item: pytest.Item) -> list[str]:
    return [reason for mark in item.iter_markers("requires_program") if (reason := missing_program(*mark.args))]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Outside CI a test whose program is absent is skipped, the reason naming the package to install."""
    if ci():
        return
    for item in items:
        for reason in _missing_programs(item):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """In CI, before any fixture starts, a test whose program is absent fails."""
    if ci() and (reasons := _missing_programs(item)):
        pytest.fail(f"{'; '.join(reasons)}: CI is set, so a missing program is a failure", pytrace=False)


TESTS = Path(__file__).resolve().parent
BOTH_MODES = (
    "users",
    "posts",
    "tags",
    "auth",
    "test_cursors.py",
    "test_query_budget.py",
    "test_conditional.py",
    "test_idempotency.py",
)
"""The feature tests (every route's contract, errors included) and the statement budgets: run with the fast path
on and off (``ORM_FAST_PATH``), as ``[fast]`` and ``[plain]``."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = metafunc.definition.path
    if path.is_relative_to(TESTS) and path.relative_to(TESTS).parts[0] in BOTH_MODES:
        metafunc.parametrize("orm_mode", ["fast", "plain"], indirect=True)


@pytest.fixture(autouse=True)
def orm_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """``fast`` or ``plain``: whether the test runs with the fast path (service/orm/) on or off; only the tests of
    ``BOTH_MODES`` run both ways, every other test runs with the default (on)."""
    mode: str = getattr(request, "param", "fast")
    with fast_path(mode == "fast"):
        yield mode


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server for this run (embedded unless TEST_DATABASE_URL names one)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Test settings: no database yet (see ``database_url``), a test secret, quiet logs."""
    return Settings.from_env(
        {
            "APP_ENV": "test",
            "JWT_SECRET": "test-secret-" + "x" * 32,
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "0",
            "DB_POOL_MAX": "10",
        }
    )


@pytest.fixture(scope="session")
async def database_url(server_url: str, settings: Settings) -> AsyncIterator[str]:
    """A throwaway database built by applying every aerich migration; dropped at the end of the run."""
    url = await create_database(server_url)
    try:
        await db.upgrade(settings, url)
        yield url
    finally:
        await drop_database(server_url, url)


@pytest.fixture(scope="session")
def app_settings(settings: Settings, database_url: str) -> Settings:
    return settings.model_copy(update={"database_url": database_url})


@pytest.fixture(scope="session")
async def app(app_settings: Settings, database_url: str) -> AsyncIterator[Any]:
    """The application with its database pool open for the whole run.

    The pool is opened with the lifespan's own ``db.database`` rather than ``app.lifespan()``: Litestar's lifespan
    holds an anyio cancel scope that must close in the task that opened it, and pytest-asyncio finalises session
    fixtures in another task. tests/test_serve.py runs the real lifespan, under uvicorn, start to finish.
    """
    application = create_app(app_settings)
    async with db.database(app_settings, database_url):
        yield application


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty every table after each test that used the database, so tests never see each other's rows (not
    aerich's bookkeeping, nor ``search_config``, the one row of configuration migration 5 writes)."""
    yield
    if "app" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename NOT IN ('aerich', 'search_config')"
        )
        if tables:
            await connection.execute(f"TRUNCATE {', '.join(t['name'] for t in tables)} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in this event loop."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


MakeUser = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(app: Any) -> MakeUser:
    """Create a user directly in the database; password is ``PASSWORD`` unless given a hash."""

    async def make(**overrides: Any) -> User:
        number = next(_emails)
        fields: dict[str, Any] = {
            "name": f"User {number}",
            "email": f"user{number}@example.com",
            "password_hash": _PASSWORD_HASH,
            "role": Role.MEMBER,
        }
        fields.update(overrides)
        return await User.create(**fields)

    return make


MakePost = Callable[..., Awaitable[int]]


@pytest.fixture
def make_post(app: Any) -> MakePost:
    """Create a post (with tags) by ``author`` directly through the query layer; return its id."""

    async def make(
        author: User, title: str = "A post", body: str | None = "Some text", tags: Sequence[str] = ()
    ) -> int:
        return await create_post(author.id, title, body, list(tags))

    return make


@pytest.fixture
def token_for(app_settings: Settings) -> Callable[[User], dict[str, str]]:
    """An Authorization header for ``user``."""

    def header(user: User) -> dict[str, str]:
        token = issue_token(user.id, user.token_version, app_settings.jwt_secret, app_settings.jwt_ttl_seconds)
        return {"Authorization": f"Bearer {token}"}

    return header
