"""``python -m bench.signin``: how long a sign-in takes while a flood of sign-ups arrives at once.

Steps: PostgreSQL (as ``python -m bench``) -> a fresh migrated database with one account -> the service
(production settings) -> sign-ins one after another on a quiet service -> the same sign-ins while SIGNUPS
concurrent sign-ups arrive at once -> a table: sign-in latency quiet and under the flood, and what the sign-ups
got (created, refused with 503, their latencies). ``--service-root`` serves another checkout of the project (an
older commit, to compare). Timings never decide the exit status; a 5xx other than a sign-up's 503 does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from bench import servers
from bench.loadgen import percentile

PASSWORD = "a long enough password"


async def sign_in(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    response = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
    if response.status_code != 200:
        raise servers.BenchError(f"sign-in answered {response.status_code}: {response.text}")
    return time.perf_counter() - started


async def sign_up(client: httpx.AsyncClient) -> tuple[int, float]:
    started = time.perf_counter()
    body = {"name": "Flood", "email": f"bench-flood-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD}
    response = await client.post("/users", json=body)
    return response.status_code, time.perf_counter() - started


async def measure(url: str, signups: int, quiet_samples: int) -> dict[str, object]:
    email = f"bench-owner-{uuid.uuid4().hex[:8]}@example.com"
    limits = httpx.Limits(max_connections=signups + 10, max_keepalive_connections=signups + 10)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        created = await client.post("/users", json={"name": "Owner", "email": email, "password": PASSWORD})
        if created.status_code != 201:
            raise servers.BenchError(f"could not create the account: {created.status_code} {created.text}")
        quiet = [await sign_in(client, email) for _ in range(quiet_samples)]

        flood = [asyncio.create_task(sign_up(client)) for _ in range(signups)]
        flooded: list[float] = []
        while not all(task.done() for task in flood) or len(flooded) < quiet_samples:
            flooded.append(await sign_in(client, email))
        results = await asyncio.gather(*flood)
    statuses = Counter(status for status, _ in results)
    unexpected = {status: n for status, n in statuses.items() if status not in (201, 503)}
    if unexpected:
        raise servers.BenchError(f"sign-ups answered {unexpected}")
    return {
        "quiet": quiet,
        "flooded": flooded,
        "statuses": statuses,
        "created_s": [seconds for status, seconds in results if status == 201],
        "refused_s": [seconds for status, seconds in results if status == 503],
    }


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return f"| {label} | 0 | - | - | - |"
    p50, p99 = statistics.median(ordered), percentile(ordered, 0.99)
    return f"| {label} | {len(ordered)} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | {ordered[-1] * 1000:.0f} |"


def report(result: dict[str, object], signups: int) -> str:
    statuses = result["statuses"]
    assert isinstance(statuses, Counter)
    rows = [
        f"Sign-in while {signups} sign-ups arrive at once ({statuses[201]} created, {statuses[503]} refused with 503)",
        "",
        "| requests | n | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for label, key in (
        ("sign-in, quiet", "quiet"),
        ("sign-in, during the flood", "flooded"),
        ("sign-up, created (201)", "created_s"),
        ("sign-up, refused (503)", "refused_s"),
    ):
        samples = result[key]
        assert isinstance(samples, list)
        rows.append(summary(label, samples))
    return "\n".join(rows)


async def main_async(args: argparse.Namespace) -> int:
    if args.service_root is not None:
        servers.ROOT = args.service_root.resolve()  # start_server runs ``python -m service`` from there
    from service import db
    from service.settings import Settings

    with servers.work_directory() as workdir, servers.postgres_server(workdir) as (server_url, where):
        async with servers.fresh_database(server_url) as url:
            await db.upgrade(Settings.from_env({"APP_ENV": "test"}, serving=False), url)
            service = servers.start_service(url, 1, workdir)
            try:
                await servers.wait_healthy(service)
                print(f"service from {servers.ROOT}, {where}", file=sys.stderr)
                result = await measure(service.url, args.signups, args.quiet_samples)
                service.check_alive()
            finally:
                service.stop()
    print(report(result, args.signups))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signin", description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=300, help="sign-ups sent at once (default 300)")
    parser.add_argument("--quiet-samples", type=int, default=20, help="sign-ins on the quiet service (default 20)")
    parser.add_argument("--smoke", action="store_true", help="30 sign-ups, 3 samples: proves the harness")
    parser.add_argument("--service-root", type=Path, help="serve this checkout of the project instead")
    args = parser.parse_args(argv)
    if args.smoke:
        args.signups, args.quiet_samples = 30, 3
    try:
        return asyncio.run(main_async(args))
    except servers.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
