"""``python -m bench.instructions``: the instructions each server executes per request, over HTTP, counted by
valgrind (callgrind): the same figure for the same code on any run, busy machine or not.

Each server (``python -m service serve`` with production settings, and ``python -m bench.baseline``) runs once under
``valgrind --tool=callgrind`` with counting off; for each endpoint a client of this process warms it with
``--warmup`` requests per connection on ``--connections`` keep-alive connections, turns counting on
(``callgrind_control -i on``), sends ``--requests`` more, turns it off, dumps the count and divides. Everything the
server process does for them is counted (uvicorn's HTTP parsing, the application, asyncpg's protocol, the event
loop), nothing of PostgreSQL, the client or the kernel.
Where ``python -m bench`` moves by ten percent between runs on a shared machine and ``bench.replay`` leaves the
server's HTTP and driver work out, this one changes only when the code does: compare two versions with it, and
read req/s off ``python -m bench``. Needs valgrind (``apt-get install valgrind``).

Starts a throwaway PostgreSQL (or uses ``BENCH_DATABASE_URL``/``DATABASE_URL``'s server), migrates and seeds a
database, prints thousands of instructions per request for each endpoint and server and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench import seed, servers

ENDPOINTS = {
    "GET /users/{id}": "/users/5",
    "GET /users?role=member": "/users?role=member",
    "GET /posts?limit=20": "/posts?limit=20",
    "GET /posts/{id}": "/posts/5",
}
_CONTENT_LENGTH = re.compile(rb"content-length: *(\d+)", re.IGNORECASE)


async def _get(port: int, target: str, count: int) -> None:
    """``count`` GETs of ``target`` on one keep-alive connection; BenchError on an answer other than 200."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {target} HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n".encode()
    try:
        for _ in range(count):
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise servers.BenchError(f"GET {target} answered {head.splitlines()[0].decode(errors='replace')}")
            length = _CONTENT_LENGTH.search(head)
            await reader.readexactly(int(length.group(1)) if length else 0)
    finally:
        writer.close()


def _start(command: Sequence[str], env: Mapping[str, str], log: Path, root: Path) -> servers.Server:
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=root, env=dict(env), stdout=subprocess.DEVNULL, stderr=output)
    return servers.Server(name=command[-1], url=f"http://127.0.0.1:{env['PORT']}", process=process, log_path=log)


def _dumped(dump: Path) -> int:
    """The instructions counted in a callgrind dump."""
    totals = re.search(r"^totals: (\d+)$", dump.read_text(errors="replace"), re.MULTILINE)
    if totals is None:
        raise servers.BenchError(f"callgrind wrote no count in {dump}")
    return int(totals.group(1))


def _control(pid: int, env: Mapping[str, str], *command: str) -> None:
    # vgdb finds the process by a name that includes $HOST, which the servers' environment sets (the bind address).
    subprocess.run(["callgrind_control", *command, str(pid)], check=True, capture_output=True, env=dict(env))


async def instructions_per_request(
    argv: Sequence[str],
    env: Mapping[str, str],
    targets: Sequence[str],
    args: argparse.Namespace,
    work: Path,
    root: Path,
) -> list[float]:
    """Start ``argv`` under callgrind once; for each of ``targets``, warm it, count the requests and dump the count
    (``callgrind_control -d``, which also zeroes it). Thousands of instructions per counted request, in order."""
    port = int(env["PORT"])
    log, out = work / f"callgrind-{port}.log", work / f"callgrind-{port}.out"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable]
    server = _start([*command, *argv], env, log, root)
    pid = server.process.pid
    per_connection = max(args.requests // args.connections, 1)
    figures = []
    try:
        await servers.wait_healthy(server, timeout=600)  # ten times slower under valgrind, and more to start
        for number, target in enumerate(targets, start=1):
            await asyncio.gather(*(_get(port, target, args.warmup) for _ in range(args.connections)))
            _control(pid, env, "-i", "on")
            await asyncio.gather(*(_get(port, target, per_connection) for _ in range(args.connections)))
            _control(pid, env, "-i", "off")
            _control(pid, env, "-d", f"request {target}")
            figures.append(_dumped(Path(f"{out}.{number}")) / (per_connection * args.connections) / 1000)
    finally:
        server.stop()
    return figures


async def measure(url: str, args: argparse.Namespace, work: Path) -> dict[str, dict[str, float]]:
    chosen = {name: target for name, target in ENDPOINTS.items() if not args.only or any(t in name for t in args.only)}
    figures: dict[str, dict[str, float]] = {name: {} for name in chosen}
    for server in ("service", "baseline"):
        root = servers.ROOT
        if server == "service":
            env = servers.service_env(url, 1, fast_path=not args.plain)
            # Tens of times slower under valgrind: a request queued behind 63 others must not give up (a 503).
            env["DB_ACQUIRE_TIMEOUT"] = "600"
            argv = ["-m", "service", "serve"]
            root = args.service_root.resolve() if args.service_root is not None else root
        else:
            env = servers._base_env(url, 1)
            argv = ["-m", "bench.baseline"]
        counted = await instructions_per_request(argv, env, list(chosen.values()), args, work, root)
        for name, thousands in zip(chosen, counted, strict=True):
            figures[name][server] = thousands
            print(f"{name:24s} {server:9s} {thousands:9.1f} thousand instructions per request", flush=True)
    return figures


async def prepare_and_measure(server_url: str, args: argparse.Namespace, work: Path) -> dict[str, dict[str, float]]:
    from service import db
    from service.security import hash_password
    from service.settings import Settings

    async with servers.fresh_database(server_url) as url:
        await db.upgrade(Settings.from_env({"DATABASE_URL": url}, serving=False), url)
        await seed.seed(url, args.users, await hash_password(seed.PASSWORD))
        return await measure(url, args, work)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1280, help="counted requests per endpoint (default 1280)")
    parser.add_argument("--warmup", type=int, default=40, help="uncounted requests per connection first (40)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections (64)")
    parser.add_argument("--users", type=int, default=1000, help="users to seed (default 1000)")
    parser.add_argument("--endpoint", dest="only", action="append", metavar="TEXT", help="only endpoints with TEXT")
    parser.add_argument("--plain", action="store_true", help="the service with ORM_FAST_PATH=0")
    parser.add_argument(
        "--service-root", type=Path, help="serve this checkout of the project as the service (an older commit)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    missing = [program for program in ("valgrind", "callgrind_control") if shutil.which(program) is None]
    if missing:
        print(f"FAILED: needs {' and '.join(missing)} (apt-get install valgrind)", flush=True)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="posts-api-instructions-") as folder:
            work = Path(folder)
            with servers.postgres_server(work) as (server_url, _):
                figures = asyncio.run(prepare_and_measure(server_url, args, work))
    except servers.BenchError as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    label = "service (ORM_FAST_PATH=0)" if args.plain else "service"
    print(f"\nThousands of instructions per request, server process, over HTTP ({args.connections} connections)")
    print(f"  {'endpoint':24s} {label:>10s} {'baseline':>9s}  baseline/service")
    for name, measured in figures.items():
        service, base = measured["service"], measured["baseline"]
        print(f"  {name:24s} {service:10.1f} {base:9.1f}  {base / service:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
