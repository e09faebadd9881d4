"""Scaling figures for docs/scaling.md, all from one run on this machine (``python -m bench.scaling``):

1. HAProxy (deploy/haproxy.cfg) in front of 1, then 2 service processes, all reads on the primary;
2. one service process reading from the primary, then from a streaming replica (``DATABASE_REPLICA_URLS``).

Each configuration gets the same wrk load (``bench/wrk.lua``, ``GET /posts/{id}`` over seeded posts) and reports
requests per second and latency; the ratios are what the docs quote. The servers are the tests' own: a primary and
a ``pg_basebackup -R`` replica of the embedded PostgreSQL, ``python -m service serve`` processes, Debian's haproxy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.seed import seed
from service import db
from service.security import _hasher
from service.settings import Settings
from tests.balancer import haproxy
from tests.postgres import create_database
from tests.replication import ReplicatedPostgres, database_urls, wait_for_replay
from tests.serving import ROOT, serve

QUIET = {"LOG_LEVEL": "WARNING", "ACCESS_LOG": "0"}


def wrk(base_url: str, max_id: int, seconds: int, connections: int) -> dict[str, float]:
    env = {**os.environ, "BENCH_MODE": "ids", "BENCH_PREFIX": "/posts/", "BENCH_MAX_ID": str(max_id)}
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(ROOT / "bench" / "wrk.lua"), base_url],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_RESULT "))
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    failed = raw["non2xx"] + raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    return {
        "requests_per_second": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "failed": failed,
    }


@contextmanager
def balanced(url: str, processes: int, folder: Path, **env: str) -> Iterator[str]:
    with ExitStack() as stack:
        services = [stack.enter_context(serve(url, **QUIET, **env)) for _ in range(processes)]
        addresses = [s.base_url.removeprefix("http://") for s in services]
        yield stack.enter_context(haproxy(addresses, folder)).base_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="posts-api-scaling-") as folder:
        cluster = ReplicatedPostgres(Path(folder), count=1)
        try:
            primary = asyncio.run(create_database(cluster.primary.uri, prefix="scaling"))
            asyncio.run(db.upgrade(Settings.from_env({"APP_ENV": "test"}, serving=False), primary))
            data = asyncio.run(seed(primary, args.users, _hasher.hash("bench password")))
            _, (replica,) = database_urls(cluster, primary.split("?", 1)[0].rsplit("/", 1)[1])
            asyncio.run(wait_for_replay(primary, [replica], timeout=120))
            max_id = data.posts
            results: dict[str, dict[str, float]] = {}
            runs = {
                "1 process, primary": (1, {}),
                "2 processes, primary": (2, {}),
                "1 process, replica": (1, {"DATABASE_REPLICA_URLS": replica}),
            }
            for name, (processes, env) in runs.items():
                with balanced(primary, processes, Path(folder), **env) as base_url:
                    wrk(base_url, max_id, 2, args.connections)  # warm-up: pools, caches
                    results[name] = wrk(base_url, max_id, args.seconds, args.connections)
                print(name, json.dumps(results[name]), flush=True)
        finally:
            cluster.cleanup()
    rps = {name: result["requests_per_second"] for name, result in results.items()}
    summary = {
        "requests_per_second": rps,
        "2 vs 1 processes": round(rps["2 processes, primary"] / rps["1 process, primary"], 2),
        "replica vs primary": round(rps["1 process, replica"] / rps["1 process, primary"], 2),
        "cores": os.cpu_count(),
    }
    print("SCALING_RESULT " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
