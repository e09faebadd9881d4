"""GET /metrics: the Prometheus text format (parsed by the client's own parser), by route template, correct across
worker processes, with the pool, the replicas, sign-in refusals and the hashing queue."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.app import create_app
from service.db.client import Turns, open_pools
from service.db.replicas import ReplicaState
from service.hashing import Work
from service.security import configure_hashing, hashing_gate
from service.settings import Settings
from tests.conftest import PASSWORD, MakeUser
from tests.serving import serve

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels (the ``pid`` label of multiprocess gauges dropped by summing)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "pid")
            key = (sample.name, labels)
            samples[key] = samples.get(key, 0.0) + sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient, path: str = "/metrics") -> Samples:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def test_requests_are_counted_by_route_template_status_and_statements(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    before = await scrape(client)
    assert (await client.get(f"/users/{user.id}")).status_code == 200
    assert (await client.get(f"/users/{user.id}")).status_code == 200
    assert (await client.get("/users/999999")).status_code == 404
    assert (await client.get("/no/such/path")).status_code == 404
    assert (await client.request("BREW", "/tags")).status_code == 405
    after = await scrape(client)

    def gained(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "GET", "path": "/users/{user_id}"}
    assert gained("posts_api_requests_total", **route, status="200") == 2
    assert gained("posts_api_requests_total", **route, status="404") == 1
    assert gained("posts_api_requests_total", method="GET", path="unmatched", status="404") == 1
    # a method no route has (a 405, refused before routing) makes no series of its own
    assert gained("posts_api_requests_total", method="OTHER", path="unmatched", status="405") == 1
    assert not any(dict(labels).get("method") == "BREW" for _, labels in after)
    assert gained("posts_api_request_duration_seconds_count", **route) == 3
    assert gained("posts_api_request_duration_seconds_bucket", **route, le="+Inf") == 3
    assert 0 < gained("posts_api_request_duration_seconds_sum", **route) < 10
    assert gained("posts_api_request_statements_total", **route) == 3  # one statement per read
    paths = {dict(labels).get("path") for name, labels in after if name.startswith("posts_api_request")}
    assert not {path for path in paths if path and path[0] == "/" and any(c.isdigit() for c in path)}, paths
    assert not any(dict(labels).get("path") == "/metrics" for _, labels in after), "the scrapes count themselves"


async def test_the_pool_is_reported_and_its_waits_and_timeouts_counted(
    client: httpx.AsyncClient, app_settings: Settings
) -> None:
    pool = next(pool for pool in open_pools if pool.connection_name == "default" and not pool.is_closing())
    before = await scrape(client)
    held = [await pool.acquire() for _ in range(app_settings.db_pool_max)]
    try:
        waiter = asyncio.ensure_future(pool.acquire(timeout=5))
        await asyncio.sleep(0.05)
        during = await scrape(client)  # the metrics handler needs no connection
        with pytest.raises(TimeoutError):
            await pool.acquire(timeout=0.05)
    finally:
        for connection in held:
            await pool.release(connection)
    await pool.release(await waiter)
    after = await scrape(client)
    db = {"database": "default"}
    assert value(during, "posts_api_db_pool_connections", **db, state="max") == app_settings.db_pool_max
    assert value(during, "posts_api_db_pool_connections", **db, state="in_use") == app_settings.db_pool_max
    assert value(during, "posts_api_db_pool_connections", **db, state="open") == app_settings.db_pool_max
    assert value(during, "posts_api_db_pool_waiting", **db) == 1
    assert value(after, "posts_api_db_pool_waiting", **db) == 0
    waits, timeouts = "posts_api_db_pool_waits_total", "posts_api_db_pool_timeouts_total"
    assert value(after, waits, **db) - value(before, waits, **db) == 2
    assert value(after, timeouts, **db) - value(before, timeouts, **db) == 1


def test_turns_count_the_takes_that_waited_and_those_that_gave_up() -> None:
    async def scenario() -> Turns:
        turns = Turns(1)
        await turns.take(None)
        with pytest.raises(TimeoutError):
            await turns.take(0.01)
        later = asyncio.ensure_future(turns.take(None))
        await asyncio.sleep(0)
        turns.give()
        await later
        return turns

    turns = asyncio.run(scenario())
    assert (turns.waited, turns.timed_out) == (2, 1)


async def test_replicas_are_reported_by_status_and_lag(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    states = [
        ReplicaState("replica_1", "ok", 0.25, ""),
        ReplicaState("replica_2", "lagging", 7.5, "more than 5.0 s behind the primary"),
        ReplicaState("replica_3", "unavailable", None, "unreachable"),
    ]
    monkeypatch.setattr(metrics, "replica_states", lambda: states)
    samples = await scrape(client)
    for state in states:
        for status in ("ok", "lagging", "unavailable"):
            expected = 1.0 if status == state.status else 0.0
            assert value(samples, "posts_api_db_replica_status", replica=state.name, status=status) == expected
    assert value(samples, "posts_api_db_replica_lag_seconds", replica="replica_1") == 0.25
    assert value(samples, "posts_api_db_replica_lag_seconds", replica="replica_2") == 7.5
    assert math.isnan(value(samples, "posts_api_db_replica_lag_seconds", replica="replica_3"))


async def test_sign_in_refusals_are_counted_by_reason(
    client: httpx.AsyncClient, make_user: MakeUser, app_settings: Settings
) -> None:
    user = await make_user()
    before = await scrape(client)
    for _ in range(app_settings.login_max_failures):
        response = await client.post("/auth/token", data={"username": user.email, "password": "wrong password"})
        assert response.status_code == 401
    response = await client.post("/auth/token", data={"username": user.email, "password": PASSWORD})
    assert response.status_code == 429
    after = await scrape(client)

    def gained(reason: str) -> float:
        name = "posts_api_sign_in_refusals_total"
        return value(after, name, reason=reason) - value(before, name, reason=reason)

    assert gained("wrong_credentials") == app_settings.login_max_failures
    assert gained("throttled") == 1
    assert gained("hashing_busy") == 0


@pytest.fixture
def one_hashing_thread(app_settings: Settings) -> Iterator[None]:
    """A hashing gate of one thread and no queue, restored to the app's afterwards."""
    configure_hashing(1, 0, 0)
    yield
    configure_hashing(
        app_settings.hashing_threads, app_settings.password_hash_queue, app_settings.password_hash_sign_in_reserve
    )


async def test_the_hashing_queue_and_its_refusals_are_reported(
    client: httpx.AsyncClient, make_user: MakeUser, one_hashing_thread: None
) -> None:
    user = await make_user()
    before = await scrape(client)
    release = threading.Event()
    busy = asyncio.ensure_future(hashing_gate().run(Work.OTHER, release.wait, 10))
    await asyncio.sleep(0.05)
    try:
        response = await client.post("/auth/token", data={"username": user.email, "password": PASSWORD})
        during = await scrape(client)
    finally:
        release.set()
        await busy
    assert response.status_code == 503
    assert value(during, "posts_api_password_hashing", state="running") == 1
    assert value(during, "posts_api_password_hashing", state="threads") == 1
    assert value(during, "posts_api_password_hashing", state="queue") == 0
    name = "posts_api_sign_in_refusals_total"
    assert value(during, name, reason="hashing_busy") - value(before, name, reason="hashing_busy") == 1
    refused = "posts_api_password_hashing_refused_total"
    assert value(during, refused, work="sign-in") - value(before, refused, work="sign-in") == 1


async def test_metrics_can_move_or_be_switched_off(app: Any, app_settings: Settings) -> None:
    for update, served, absent in (
        ({"metrics_path": "/internal/metrics"}, "/internal/metrics", "/metrics"),
        ({"metrics": False}, None, "/metrics"),
    ):
        application = create_app(app_settings.model_copy(update=update))
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get(absent)).status_code == 404
            if served:
                assert "posts_api_requests_total" in (await http.get(served)).text
            document = (await http.get("/schema/openapi.json")).json()
            assert not any("metrics" in path for path in document["paths"])


def test_the_metrics_path_must_be_a_plain_path() -> None:
    for bad in ("metrics", "/metrics/", "/me trics", "/a//b"):
        with pytest.raises(Exception, match="METRICS_PATH"):
            Settings.from_env({"METRICS_PATH": bad})


def test_several_worker_processes_are_scraped_as_one(database_url: str) -> None:
    with serve(database_url, WORKERS="2", DB_POOL_MAX="3") as served:
        time.sleep(2 * metrics.SAMPLE_SECONDS + 0.5)  # every worker has sampled its pool
        with httpx.Client(base_url=served.base_url, timeout=10) as http:
            for _ in range(20):
                assert http.get("/tags", headers={"connection": "close"}).status_code == 200
            time.sleep(metrics.SAMPLE_SECONDS + 0.5)  # every worker has copied its counts into the shared files
            for _ in range(4):  # whichever worker answers the scrape, it reports all of them
                samples = parse(http.get("/metrics", headers={"connection": "close"}).text)
                assert value(samples, "posts_api_requests_total", method="GET", path="/tags", status="200") == 20
                assert value(samples, "posts_api_db_pool_connections", database="default", state="max") == 2 * 3


def test_recorded_requests_reach_the_metrics_at_a_sample_or_when_a_route_piles_up() -> None:
    recorder = metrics.RequestRecorder("/metrics")
    scope = {"method": "GET", "path_template": "/test/recorder"}
    labels = {"method": "GET", "path": "/test/recorder"}

    def current() -> tuple[float, float, float]:
        def read(name: str, **extra: str) -> float:
            return REGISTRY.get_sample_value(name, {**labels, **extra}) or 0.0

        return (
            read("posts_api_requests_total", status="200"),
            read("posts_api_request_statements_total"),
            read("posts_api_request_duration_seconds_count"),
        )

    start = current()
    recorder(scope, 200, 0.002, 3)
    assert current() == start  # kept in the process until the next sample...
    metrics.sample()
    assert current() == (start[0] + 1, start[1] + 3, start[2] + 1)
    for _ in range(metrics.FLUSH_AT - 1):
        recorder(scope, 200, 0.002, 1)
    assert current() == (start[0] + 1, start[1] + 3, start[2] + 1)
    recorder(scope, 200, 0.002, 1)  # ...or until a route has FLUSH_AT durations waiting
    piled = metrics.FLUSH_AT
    assert current() == (start[0] + 1 + piled, start[1] + 3 + piled, start[2] + 1 + piled)
    recorder({"method": "GET", "path_template": "/metrics"}, 200, 0.002, 0)
    metrics.sample()
    scrapes = {"method": "GET", "path": "/metrics", "status": "200"}
    assert REGISTRY.get_sample_value("posts_api_requests_total", scrapes) is None


async def test_the_last_requests_are_kept_when_the_process_stops() -> None:
    recorder = metrics.RequestRecorder("/metrics")
    labels = {"method": "GET", "path": "/test/stopping", "status": "200"}
    before = REGISTRY.get_sample_value("posts_api_requests_total", labels) or 0.0
    async with metrics.sampling():
        await asyncio.sleep(0)  # the sampler's first sample has run
        recorder({"method": "GET", "path_template": "/test/stopping"}, 200, 0.001, 1)
    assert REGISTRY.get_sample_value("posts_api_requests_total", labels) == before + 1
