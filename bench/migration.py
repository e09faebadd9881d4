"""``python -m bench.migration``: the search migrations (5, 6, 7) applied, then reverted, while the previous release
serves reads and writes over HTTP on 100,000 posts.

The previous release is this repository as it was before migration 5 (``git archive`` of that commit into a
temporary folder), served by its own ``python -m service``: exactly the code a rolling deploy keeps running while
the new schema arrives. Its database is migrated to 4 and seeded (``bench.seed``: 20,000 users, 100,000 posts).
Clients send pages of posts (first pages and cursor pages), single posts, a user's posts, new posts and edits of
them, for ``--seconds`` before, during and after ``service.db.upgrade`` (the start-up upgrade: advisory lock,
lock-timeout retries) applies 5-7 and then reverts them; a transaction holding ``posts`` for 1.5 s when the
upgrade starts forces a lock-timeout retry. Prints the failed requests (must be 0), the slowest request and the
time each step took.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bench.seed import PASSWORD, seed
from bench.servers import ROOT, Server, fresh_database, postgres_server, service_env, wait_healthy
from service import db
from service.security import hash_password
from service.settings import Settings

FIRST_NEW = "migrations/models/5_20261204175325_post_search.py"


@contextlib.contextmanager
def previous_release(folder: Path) -> Iterator[Path]:
    """The repository at the commit before ``FIRST_NEW`` was added, extracted into ``folder``."""
    added = subprocess.run(
        ["git", "rev-list", "-1", "HEAD", "--", FIRST_NEW], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    before = f"{added}^" if added else "HEAD"  # not committed yet: the last commit is the previous release
    archive = subprocess.run(["git", "archive", before], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    yield folder


def start_previous(old: Path, url: str, work: Path) -> Server:
    """The previous release served from its own folder (its own ``service`` package and migrations)."""
    env = {**service_env(url, 1), "PYTHONPATH": str(old)}
    log_path = work / "previous.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"], cwd=old, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return Server(name="previous", url=f"http://127.0.0.1:{env['PORT']}", process=process, log_path=log_path)


@dataclass
class Load:
    """HTTP clients of the previous release; every request timed, every failure kept."""

    url: str
    token: str
    post_ids: list[int]
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def client(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            step, cursor, own = 0, None, None
            while not self.stopped.is_set():
                step += 1
                kind = step % 6
                if kind == 0:
                    request = http.build_request("GET", "/posts", params={"limit": 20})
                elif kind == 1:
                    params = {"limit": 20, **({"cursor": cursor} if cursor else {})}
                    request = http.build_request("GET", "/posts", params=params)
                elif kind == 2:
                    request = http.build_request("GET", f"/posts/{self.post_ids[step % len(self.post_ids)]}")
                elif kind == 3:
                    request = http.build_request("GET", f"/users/{step % 1000 + 1}/posts")
                elif kind == 4 or own is None:
                    body = {"title": f"during the migration {number}.{step}", "body": "runs", "tags": ["bench"]}
                    request = http.build_request("POST", "/posts", json=body, headers=headers)
                else:
                    request = http.build_request(
                        "PATCH", f"/posts/{own}", json={"title": f"edit {step}"}, headers=headers
                    )
                started = time.perf_counter()
                try:
                    response = await http.send(request)
                    if response.status_code >= 400:
                        self.failures.append(f"{request.method} {request.url.path}: {response.status_code}")
                    elif request.method == "POST":
                        own = response.json()["id"]
                    elif kind == 1:
                        cursor = response.json().get("next_cursor")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{request.method} {request.url.path}: {exc!r}")
                self.latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.01)


async def hold_posts(url: str, seconds: float) -> None:
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.fetchval("SELECT count(*) FROM posts")
            await asyncio.sleep(seconds)
    finally:
        await connection.close()


async def aerich_downgrade(url: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("aerich")),
        "-c",
        str(ROOT / "aerich.ini"),
        "downgrade",
        "--yes",
        cwd=ROOT,
        env={**service_env(url, 1), "AERICH_NO_TORTOISE_V1_WARNING": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"aerich downgrade failed:\n{output.decode()}")


async def timed_step(name: str, load: Load, step: Awaitable[object]) -> float:
    before = len(load.latencies)
    started = time.perf_counter()
    await step
    took = time.perf_counter() - started
    during = load.latencies[before:]
    slowest = max(during, default=0.0) * 1000
    print(f"{name:<28} {took:7.2f} s   {len(during):6d} requests meanwhile, slowest {slowest:6.0f} ms")
    return took


async def run(users: int, clients: int, seconds: float) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="posts-api-migration-")))
        old = stack.enter_context(previous_release(work / "previous"))
        server_url, described = stack.enter_context(postgres_server(work))
        async with fresh_database(server_url) as url:
            settings = Settings.from_env({"APP_ENV": "test"}, serving=False)
            await db.upgrade(settings, url, location=old / "migrations")
            data = await seed(url, users, await hash_password(PASSWORD))
            print(f"{described}: {data.posts} posts; the previous release serves them")
            server = start_previous(old, url, work)
            try:
                await wait_healthy(server)
                async with httpx.AsyncClient(base_url=server.url) as http:
                    signin = await http.post(
                        "/auth/token", data={"username": "user1@example.com", "password": PASSWORD}
                    )
                    token = signin.json().get("access_token", "")
                    if not token:
                        first = await http.get("/users", params={"limit": 1, "order": "id"})
                        raise SystemExit(f"cannot sign in as a seeded user: {signin.text} {first.text}")
                load = Load(server.url, token, list(range(1, data.posts, 997)))
                workers = [asyncio.create_task(load.client(n)) for n in range(clients)]
                await asyncio.sleep(seconds)
                blocker = asyncio.create_task(hold_posts(url, 1.5))
                await asyncio.sleep(0.1)
                await timed_step("upgrade 5-7 (5 retried)", load, db.upgrade(settings, url))
                await blocker
                await asyncio.sleep(seconds)
                for _ in range(3):
                    await timed_step("downgrade one (aerich)", load, aerich_downgrade(url))
                await asyncio.sleep(seconds)
                load.stopped.set()
                await asyncio.gather(*workers)
            finally:
                server.stop()
    latencies = sorted(load.latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"{len(latencies)} requests, {len(load.failures)} failed, median {statistics.median(latencies) * 1000:.0f} ms,"
        f" p99 {p99:.0f} ms, slowest {latencies[-1] * 1000:.0f} ms"
    )
    for failure in load.failures[:10]:
        print("  failed:", failure)
    return 1 if load.failures or latencies[-1] >= 1.0 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.migration", description=__doc__)
    parser.add_argument("--users", type=int, default=20_000, help="users to seed (5 posts each)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=3.0, help="load before, between and after the steps")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.users, args.clients, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
