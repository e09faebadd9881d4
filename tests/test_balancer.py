"""Service replicas behind a real load balancer: HAProxy (Debian's package) with deploy/haproxy.cfg in front of
service processes on this machine. Load spreads across them, the client's address reaches the sign-in throttle
through X-Forwarded-For (trusted from the balancer only), and a process stopped with SIGTERM under load costs no
failed request."""

from __future__ import annotations

import asyncio
import re
import signal
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from service import db
from service.settings import Settings
from tests.balancer import Balancer, haproxy, wait_for_servers
from tests.postgres import create_database, drop_database
from tests.serving import Served, serve

pytestmark = pytest.mark.requires_program("haproxy")
SERVICE_ENV = {
    "FORWARDED_ALLOW_IPS": "127.0.0.1",  # the balancer's address, and only it
    "LOGIN_ADDRESS_MAX_FAILURES": "3",
    "SHUTDOWN_GRACE_SECONDS": "10",
    # Longer than the balancer's health check takes to mark a process down (inter 1 s x fall 2).
    "SHUTDOWN_DRAIN_SECONDS": "3",
}


@pytest.fixture(scope="module")
async def balanced_url(server_url: str) -> AsyncIterator[str]:
    """A migrated database of this module's own (its rows never meet the other tests')."""
    url = await create_database(server_url, prefix="balanced")
    try:
        await db.upgrade(Settings.from_env({"APP_ENV": "test"}, serving=False), url)
        yield url
    finally:
        await drop_database(server_url, url)


def _address(served: Served) -> str:
    return served.base_url.removeprefix("http://")


@pytest.fixture(scope="module")
def three(balanced_url: str) -> Iterator[tuple[Balancer, list[Served]]]:
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="posts-api-haproxy-") as folder:
        services = [stack.enter_context(serve(balanced_url, **SERVICE_ENV)) for _ in range(3)]
        balancer = stack.enter_context(haproxy([_address(s) for s in services], Path(folder)))
        yield balancer, services


async def test_requests_spread_across_the_service_processes(three: tuple[Balancer, list[Served]]) -> None:
    balancer, _ = three
    async with httpx.AsyncClient(base_url=balancer.base_url) as http:
        responses = await asyncio.gather(*(http.get("/posts") for _ in range(60)))
    assert {response.status_code for response in responses} == {200}
    served_by = Counter(response.headers["x-served-by"] for response in responses)
    assert set(served_by) == {"api1", "api2", "api3"}
    assert min(served_by.values()) >= 10, served_by


def _from(address: str, base_url: str) -> httpx.AsyncClient:
    """A client whose connections come from ``address`` (any 127.0.0.0/8 address is this machine)."""
    return httpx.AsyncClient(base_url=base_url, transport=httpx.AsyncHTTPTransport(local_address=address))


async def _sign_in(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    email = f"nobody{time.monotonic_ns()}@example.com"  # a new account each time: only the address counter grows
    response = await http.post("/auth/token", data={"username": email, "password": "wrong password"}, headers=headers)
    return response.status_code


async def test_the_sign_in_throttle_sees_the_client_address_through_the_balancer(
    three: tuple[Balancer, list[Served]],
) -> None:
    balancer, services = three
    async with _from("127.0.0.2", balancer.base_url) as blocked, _from("127.0.0.3", balancer.base_url) as other:
        assert [await _sign_in(blocked) for _ in range(3)] == [401, 401, 401]
        assert await _sign_in(blocked) == 429  # the processes share the counter, keyed by the real client
        assert await _sign_in(other) == 401  # another client behind the same balancer is not blocked
        # A client cannot pick its address: the balancer drops the X-Forwarded-For it sends.
        assert await _sign_in(blocked, {"X-Forwarded-For": "10.9.9.9"}) == 429
    # Straight to a process, X-Forwarded-For from anyone but the balancer is ignored: 127.0.0.3 stays itself.
    async with _from("127.0.0.3", services[0].base_url) as direct:
        assert await _sign_in(direct, {"X-Forwarded-For": "127.0.0.2"}) == 401


async def _load(base_url: str, headers: dict[str, str], post_id: int, until: float) -> Counter[str]:
    """One client's loop of reads and writes through the balancer; counts outcomes by method and status."""
    outcomes: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=15) as http:
        while time.monotonic() < until:
            for method, path, body in (
                ("GET", "/posts", None),
                ("GET", f"/posts/{post_id}", None),
                ("POST", "/posts", {"title": "under load"}),
            ):
                try:
                    response = await http.request(method, path, json=body)
                    outcomes[f"{method} {response.status_code}"] += 1
                except httpx.TransportError as exc:
                    outcomes[f"{method} {type(exc).__name__}"] += 1
    return outcomes


async def test_a_process_stopped_with_sigterm_under_load_fails_no_request(balanced_url: str) -> None:
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="posts-api-haproxy-") as folder:
        services = [stack.enter_context(serve(balanced_url, **SERVICE_ENV)) for _ in range(2)]
        balancer = stack.enter_context(haproxy([_address(s) for s in services], Path(folder)))
        email = f"loader{time.monotonic_ns()}@example.com"
        async with httpx.AsyncClient(base_url=balancer.base_url) as http:
            assert (
                await http.post("/users", json={"name": "L", "email": email, "password": "long enough pw"})
            ).is_success
            token = (await http.post("/auth/token", data={"username": email, "password": "long enough pw"})).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            post_id = (await http.post("/posts", json={"title": "seed"}, headers=headers)).json()["id"]

        until = time.monotonic() + 5
        clients = [asyncio.create_task(_load(balancer.base_url, headers, post_id, until)) for _ in range(8)]
        await asyncio.sleep(1.5)
        stopped = services[0].process
        stopped.send_signal(signal.SIGTERM)
        outcomes = sum((await asyncio.gather(*clients)), Counter())
        assert await asyncio.to_thread(stopped.wait, 15) == 0
        failed = {outcome: n for outcome, n in outcomes.items() if outcome not in ("GET 200", "POST 201")}
        assert not failed, f"failed requests: {failed} of {sum(outcomes.values())}"
        assert outcomes["GET 200"] > 100, outcomes
        assert outcomes["POST 201"] > 50, outcomes
        wait_for_servers(balancer.base_url, 1)


async def test_the_balancer_gives_a_request_id_to_a_request_without_one(
    three: tuple[Balancer, list[Served]],
) -> None:
    balancer, _ = three
    async with httpx.AsyncClient(base_url=balancer.base_url) as http:
        kept = await http.get("/tags", headers={"X-Request-ID": "client-chosen-1"})
        given = [await http.get("/tags") for _ in range(3)]
    assert kept.headers["x-request-id"] == "client-chosen-1"
    ids = [response.headers["x-request-id"] for response in given]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", i) for i in ids), ids
    assert len(set(ids)) == 3


@pytest.mark.parametrize("path", ["/metrics", "//metrics", "/metrics/", "/%6detrics", "/metrics%2f", "/metrics?x=1"])
async def test_the_balancer_does_not_expose_the_metrics(three: tuple[Balancer, list[Served]], path: str) -> None:
    balancer, services = three
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{services[0].base_url}/metrics")).status_code == 200  # for the scraper, directly
        response = await http.get(f"{balancer.base_url}{path}")
    assert response.status_code == 404
    assert response.json() == {"status_code": 404, "detail": "Not Found"}
    assert "posts_api" not in response.text
