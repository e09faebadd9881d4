"""Password hashing admission: bounded, sign-in first, refusals at once and in the error contract."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

import service.security as security
from service.hashing import HashingBusyError, HashingGate, Work
from service.settings import Settings
from tests.conftest import PASSWORD, MakeUser
from tests.helpers import assert_error


class Blocker:
    """Work for a hashing thread that runs until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def __call__(self, label: str) -> str:
        self.started.release()
        self.release.wait(10)
        return label


async def started(blocker: Blocker, count: int) -> None:
    for _ in range(count):
        assert await asyncio.to_thread(blocker.started.acquire, True, 5)


async def test_waiting_sign_ins_run_before_waiting_sign_ups() -> None:
    gate = HashingGate(threads=1, queue=10, reserved=2)
    blocker = Blocker()
    order: list[str] = []

    async def run(work: Work, label: str) -> None:
        order.append(await gate.run(work, blocker, label))

    first = asyncio.create_task(run(Work.OTHER, "running sign-up"))
    await started(blocker, 1)
    waiting = [asyncio.create_task(run(Work.OTHER, f"sign-up {n}")) for n in range(3)]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(run(Work.SIGN_IN, "sign-in")))
    await asyncio.sleep(0)
    assert (gate.running, gate.waiting) == (1, 4)
    blocker.release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["running sign-up", "sign-in", "sign-up 0", "sign-up 1", "sign-up 2"]
    assert (gate.running, gate.waiting) == (0, 0)
    gate.close()


async def test_sign_ups_cannot_take_the_sign_in_reserve_and_a_full_queue_refuses_at_once() -> None:
    gate = HashingGate(threads=2, queue=5, reserved=2)
    blocker = Blocker()
    tasks = [asyncio.create_task(gate.run(Work.OTHER, blocker, f"sign-up {n}")) for n in range(5)]
    await started(blocker, 2)
    assert (gate.running, gate.waiting) == (2, 3)
    with pytest.raises(HashingBusyError) as refused:
        await gate.run(Work.OTHER, blocker, "one sign-up too many")
    assert refused.value.work is Work.OTHER
    sign_ins = [asyncio.create_task(gate.run(Work.SIGN_IN, blocker, f"sign-in {n}")) for n in range(2)]
    await asyncio.sleep(0)
    assert gate.waiting == 5
    with pytest.raises(HashingBusyError):
        await gate.run(Work.SIGN_IN, blocker, "one sign-in too many")
    blocker.release.set()
    assert len(await asyncio.gather(*tasks, *sign_ins)) == 7
    assert (gate.running, gate.waiting) == (0, 0)
    gate.close()


async def test_a_cancelled_waiter_leaves_the_queue_and_a_granted_one_hands_its_thread_on() -> None:
    gate = HashingGate(threads=1, queue=3, reserved=0)
    blocker = Blocker()
    running = asyncio.create_task(gate.run(Work.OTHER, blocker, "running"))
    await started(blocker, 1)
    cancelled = asyncio.create_task(gate.run(Work.OTHER, blocker, "cancelled while waiting"))
    granted = asyncio.create_task(gate.run(Work.OTHER, blocker, "cancelled once granted"))
    last = asyncio.create_task(gate.run(Work.OTHER, blocker, "last"))
    await asyncio.sleep(0)
    assert gate.waiting == 3
    cancelled.cancel()
    await asyncio.sleep(0)
    assert gate.waiting == 2
    blocker.release.set()
    assert await running == "running"
    granted.cancel()  # its turn was granted when ``running`` left; cancelled before it ran, it hands the turn on
    assert await last == "last"
    assert (gate.running, gate.waiting) == (0, 0)
    for task in (cancelled, granted):
        with pytest.raises(asyncio.CancelledError):
            await task
    gate.close()


def test_the_gate_refuses_impossible_bounds() -> None:
    for threads, queue, reserved in ((0, 1, 0), (1, -1, 0), (1, 2, 3), (1, 2, -1)):
        with pytest.raises(ValueError, match="reserved"):
            HashingGate(threads, queue, reserved)


def test_threads_default_to_the_cores_shared_among_the_workers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert settings.model_copy(update={"workers": 2}).hashing_threads == 4
    assert settings.model_copy(update={"workers": 16}).hashing_threads == 1
    assert settings.model_copy(update={"password_hash_threads": 3, "workers": 2}).hashing_threads == 3
    with pytest.raises(Exception, match="PASSWORD_HASH_SIGN_IN_RESERVE"):
        Settings.from_env({"APP_ENV": "test", "PASSWORD_HASH_QUEUE": "4", "PASSWORD_HASH_SIGN_IN_RESERVE": "5"})


@pytest.fixture
def full_gate(app: Any) -> Iterator[Blocker]:
    """This process's gate with one thread and no queue, its thread busy until the test ends."""
    previous = security.hashing_gate()
    gate = security.configure_hashing(1, 0, 0)
    blocker = Blocker()
    gate._executor.submit(blocker, "busy")  # occupies the thread without passing through the gate
    gate.running = 1
    try:
        yield blocker
    finally:
        blocker.release.set()
        security.configure_hashing(previous.threads, previous.queue, previous.reserved)


async def test_a_sign_up_beyond_capacity_is_a_503_at_once_and_writes_nothing(
    client: httpx.AsyncClient, full_gate: Blocker, database_url: str
) -> None:
    response = await client.post(
        "/users", json={"name": "A", "email": "a@example.com", "password": "long enough", "profile": {"bio": "b"}}
    )
    body = assert_error(response, 503)
    assert body == {"status_code": 503, "detail": "Too many password checks at once; try again in a moment"}
    assert response.headers["retry-after"] == "1"
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM users") == 0
        assert await connection.fetchval("SELECT count(*) FROM profiles") == 0
    finally:
        await connection.close()


async def test_a_sign_in_refused_for_capacity_counts_as_no_failure(
    client: httpx.AsyncClient, make_user: MakeUser, full_gate: Blocker, database_url: str
) -> None:
    await make_user(email="ada@example.com")
    for _ in range(10):
        response = await client.post("/auth/token", data={"username": "ada@example.com", "password": PASSWORD})
        assert_error(response, 503)
        assert response.headers["retry-after"] == "1"
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT key, failures FROM login_throttles")
        assert {row["key"]: row["failures"] for row in rows} == {  # reserved, then given back
            "email:ada@example.com ip:127.0.0.1": 0,
            "email:ada@example.com": 0,
            "ip:127.0.0.1": 0,
        }
    finally:
        await connection.close()
    full_gate.release.set()
    security.configure_hashing(1, 4, 2)
    response = await client.post("/auth/token", data={"username": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
