"""``python -m bench``: the service against the raw baseline, on the same data and the same requests.

Steps: PostgreSQL (embedded in a temporary folder unless BENCH_DATABASE_URL or DATABASE_URL names a server) ->
a fresh database, migrated by ``service.db.upgrade`` -> reproducible data (``bench.seed``) -> the service
(``python -m service serve``, production settings) and the baseline (``python -m bench.baseline``) -> a JSON
parity check -> one probe request per endpoint on a second service instance with the access log on (its
``queries`` field is the service's SQL statements per request) -> for each repetition and endpoint, one run per
server, alternating which goes first -> the tables on stdout, the raw results in ``bench/results/``.

Exit status 1 if anything failed: a server that does not start or dies, a parity difference, any error (non-2xx
answer or socket error) in any run. Timings never decide the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench import baseline, explain, parity, report, seed, servers
from bench.load import Endpoint, Generator, choose_generator, endpoints, run_load
from bench.servers import BenchError, Server

SCALES = {"1x": 10_000, "10x": 100_000, "100x": 1_000_000}
SMOKE_USERS = 200
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVE_MARKER = "BENCH_SERVERS "


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the service against a raw asyncpg baseline (run from the project root).",
    )
    parser.add_argument(
        "--scale",
        choices=tuple(SCALES),
        default="1x",
        help="data: 1x, 10x, 100x = 10k, 100k, 1M users with 5 posts each (default 1x)",
    )
    parser.add_argument("--users", type=int, help="seed this many users instead of --scale's number")
    parser.add_argument("--duration", type=float, help="seconds per run (default 10; smoke 1)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each run (default 2; smoke 0)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 64; smoke 16)")
    parser.add_argument(
        "--signup-connections",
        type=int,
        help="connections for POST /users (default 4; smoke 2): each sign-up spends ~0.3 s of CPU in Argon2, so "
        "a few connections saturate the CPUs and more would only measure queueing",
    )
    parser.add_argument(
        "--signup-duration", type=float, help="seconds per POST /users run (default: --duration; smoke 3)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--repetitions", type=int, help="runs per endpoint and server (default 3; smoke 1)")
    parser.add_argument("--workers", type=int, default=1, help="server processes of each server (default 1)")
    parser.add_argument(
        "--endpoint", action="append", dest="only", metavar="TEXT", help="only endpoints containing TEXT (repeatable)"
    )
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "python"), default="auto", help="load generator (auto: wrk if present)"
    )
    parser.add_argument("--seed", type=int, default=seed.DEFAULT_SEED, help="random seed of the data")
    parser.add_argument("--smoke", action="store_true", help="tiny data, 1 s runs, 1 repetition: proves the harness")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="also measure the service with its fast path off (ORM_FAST_PATH=0), as a third server 'plain'",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="set up and start both servers, print their URLs as one 'BENCH_SERVERS {json}' line, and keep them "
        "running until stdin closes or SIGINT/SIGTERM (for profiling and the parity test)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the raw JSON goes")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database (external server)")
    parser.add_argument(
        "--explain", action="store_true", help="print PostgreSQL's plans of the service's hot statements on the data"
    )
    return parser


def resolve_options(args: argparse.Namespace) -> argparse.Namespace:
    smoke = args.smoke
    defaults = {
        "duration": 1.0 if smoke else 10.0,
        "warmup": 0.0 if smoke else 2.0,
        "connections": 16 if smoke else 64,
        "signup_connections": 2 if smoke else 4,
        "repetitions": 1 if smoke else 3,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.signup_duration is None:  # a sign-up takes ~0.3 s of CPU: 1 s runs could finish none on a busy machine
        args.signup_duration = max(args.duration, 3.0) if smoke else args.duration
    if args.users is None:
        args.users = SMOKE_USERS if smoke else SCALES[args.scale]
    if min(args.users, args.repetitions, args.connections, args.signup_connections) < 1 or args.duration <= 0:
        raise SystemExit("error: --users, --repetitions, --*connections and --duration must be positive")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def cleanup_signups(connection: asyncpg.Connection) -> None:
    """Delete the users created by sign-up runs and checks, so every run reads the seeded data only."""
    await connection.execute("DELETE FROM users WHERE email LIKE 'bench-%'")
    await connection.execute("VACUUM ANALYZE users")


async def probe_statements(server: Server, chosen: Sequence[Endpoint]) -> dict[str, int | None]:
    """One request per endpoint on a service with ACCESS_LOG=1; its log line's ``queries`` is the SQL count."""
    ids: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for index, endpoint in enumerate(chosen):
            request_id = f"bench-probe-{index}-{uuid.uuid4().hex[:8]}"
            ids[request_id] = endpoint.name
            headers = {"x-request-id": request_id}
            if endpoint.mode == "signup":
                body = {
                    "name": "Probe",
                    "email": f"bench-probe-{uuid.uuid4().hex[:8]}@example.com",
                    "password": "p" * 12,
                }
                response = await client.post("/users", json=body, headers=headers)
            else:
                path = endpoint.path + ("1" if endpoint.mode == "ids" else "")
                response = await client.get(path, headers=headers)
            if not response.is_success:
                raise BenchError(f"probe {endpoint.name}: status {response.status_code}: {response.text[:300]}")
    found: dict[str, int | None] = dict.fromkeys((endpoint.name for endpoint in chosen), None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and None in found.values():
        for line in server.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("request_id") in ids:
                    found[ids[entry["request_id"]]] = int(entry["queries"])
        await asyncio.sleep(0.1)
    return found


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


async def settle(all_servers: Sequence[Server], timeout: float = 120.0) -> tuple[float, float]:
    """Wait until no server is still working on requests a load generator gave up on (sign-ups keep hashing).

    Idle means under 5 % of one CPU over 0.3 s. Without this, one run's leftovers would slow the next run down,
    which is often the other server's. Returns the seconds waited and the CPU cores the rest of the machine was
    using meanwhile (other processes: they make the numbers noisy).
    """
    started = time.monotonic()
    background = 0.0
    while time.monotonic() - started < timeout:
        ours, machine = sum(server.cpu_seconds() for server in all_servers), _machine_busy_seconds()
        await asyncio.sleep(0.3)
        ours = sum(server.cpu_seconds() for server in all_servers) - ours
        background = max(0.0, _machine_busy_seconds() - machine - ours) / 0.3
        if ours < 0.3 * 0.05:
            break
    return time.monotonic() - started, background


async def measure(
    args: argparse.Namespace,
    generator: Generator,
    server: Server,
    endpoint: Endpoint,
    tag: str,
    all_servers: Sequence[Server],
) -> dict[str, Any]:
    signup = endpoint.mode == "signup"
    connections = args.signup_connections if signup else args.connections
    duration = args.signup_duration if signup else args.duration
    options = {"connections": connections, "threads": args.threads}
    if args.warmup > 0:
        await run_load(generator, server.url, endpoint, duration=args.warmup, tag=f"{tag}w", **options)
    settled, background = await settle(all_servers)
    rss_start, cpu_start = server.rss_bytes(), server.cpu_seconds()
    result = await run_load(generator, server.url, endpoint, duration=duration, tag=tag, **options)
    cpu = server.cpu_seconds() - cpu_start
    server.check_alive()
    result["settle_seconds_before"] = round(settled, 2)
    result["background_cores_before"] = round(background, 2)
    result["drain_seconds_after"] = round((await settle(all_servers))[0], 2)
    result.update(
        rss_start=rss_start,
        rss_end=server.rss_bytes(),
        connections=connections,
        cpu_seconds=round(cpu, 3),
        cpu_ms_per_request=cpu * 1000 / result["requests"] if result["requests"] else 0.0,
    )
    return result


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=servers.ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() or None
    return None


async def _wait_for_stop() -> None:
    """Until stdin reaches its end (the parent closed it) or SIGINT/SIGTERM arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def read_stdin() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read_stdin, daemon=True).start()
    await stop.wait()


async def benchmark(args: argparse.Namespace, server_url: str, server_label: str, workdir: Path) -> int:
    from service import db
    from service.security import hash_password
    from service.settings import Settings

    generator = None if args.serve else choose_generator(args.generator)
    failures: list[str] = []
    started = time.perf_counter()
    async with servers.fresh_database(server_url, keep=args.keep_database) as url:
        settings = Settings.from_env({"DATABASE_URL": url}, serving=False)
        applied = await db.upgrade(settings, url)
        log(f"database ready ({server_label}); migrations applied: {', '.join(applied)}")
        dataset = await seed.seed(url, args.users, await hash_password(seed.PASSWORD), args.seed)
        log(
            f"seeded {dataset.users:,} users, {dataset.posts:,} posts, {dataset.post_tags:,} tag links, "
            f"{dataset.profiles:,} profiles, {dataset.admins:,} admins in {dataset.seconds:.1f} s"
        )
        plans = await explain.explain(url, dataset.users, dataset.posts) if args.explain else {}
        for endpoint_name, plan in plans.items():
            log(f"EXPLAIN {endpoint_name}:\n{plan}")
        chosen = [
            endpoint
            for endpoint in endpoints(dataset.users, dataset.posts)
            if not args.only or any(text in endpoint.name for text in args.only)
        ]
        if not chosen:
            raise BenchError(f"no endpoint matches {args.only}")
        running: list[Server] = []
        admin = await asyncpg.connect(url)
        try:
            service = servers.start_service(url, args.workers, workdir)
            running.append(service)
            base = servers.start_baseline(url, args.workers, workdir)
            running.append(base)
            plain = None
            if args.plain and not args.serve:
                plain = servers.start_service(url, args.workers, workdir, name="plain", fast_path=False)
                running.append(plain)
            probe = None
            if not args.serve:
                probe = servers.start_service(url, 1, workdir, name="service-probe", access_log=True)
                running.append(probe)
            await asyncio.gather(*(servers.wait_healthy(server) for server in running))
            log(
                f"servers up: service {service.url} (pid {service.process.pid}), baseline {base.url} "
                f"(pid {base.process.pid}) after {time.perf_counter() - started:.1f} s"
            )
            if args.serve:
                info = {
                    "service": service.url,
                    "baseline": base.url,
                    "service_pid": service.process.pid,
                    "baseline_pid": base.process.pid,
                    "database_url": url,
                    "dataset": dataset.as_dict(),
                }
                print(SERVE_MARKER + json.dumps(info), flush=True)
                await _wait_for_stop()
                return 0
            assert probe is not None
            assert generator is not None
            checks, problems = await parity.compare(service.url, base.url, dataset.users, dataset.posts)
            failures.extend(f"parity: {problem}" for problem in problems)
            log(f"parity: {checks} checks, {len(problems)} differences")
            for problem in problems:
                log(f"  {problem}")
            statements = {
                "service": await probe_statements(probe, chosen),
                "baseline": {endpoint.name: baseline.STATEMENTS[endpoint.name] for endpoint in chosen},
            }
            probe.stop()
            running.remove(probe)
            await cleanup_signups(admin)
            measured = {"service": service, "baseline": base, **({"plain": plain} if plain is not None else {})}
            runs = await _all_runs(args, generator, measured, chosen, admin)
        finally:
            for server in running:
                server.stop()
            await admin.close()
        postgres_version = await _server_version(url)
    for run in runs:
        if not run["requests"]:
            failures.append(f"{run['endpoint']} on {run['server']} (repetition {run['repetition']}): no request done")
        if run["errors"]:
            failures.append(
                f"{run['endpoint']} on {run['server']} (repetition {run['repetition']}): {run['errors']} errors "
                f"({run['non2xx']} non-2xx, {run['socket_errors']} socket errors)"
            )
    names = [endpoint.name for endpoint in chosen]
    summary = report.summarise(runs, names, statements)
    heading = [
        f"Benchmark: service vs raw asyncpg baseline - {'SMOKE ' if args.smoke else ''}{dataset.users:,} users, "
        f"{dataset.posts:,} posts, {dataset.post_tags:,} tag links (seed {dataset.seed})",
        f"load: {generator.label}; {args.connections} connections (POST /users: {args.signup_connections}), "
        f"{args.threads if generator.kind == 'wrk' else 1} thread(s), {args.duration:g} s per run "
        f"(POST /users: {args.signup_duration:g} s) after {args.warmup:g} s warm-up, "
        f"{args.repetitions} repetition(s), server order alternating",
        f"servers: {args.workers} worker(s) each, DB pool max {os.environ.get('DB_POOL_MAX', '10')}; "
        f"{postgres_version} ({server_label}); {os.cpu_count()} CPUs; Python {platform.python_version()}",
    ]
    background = statistics.median(run["background_cores_before"] for run in runs) if runs else 0.0
    if background > 0.2:
        heading.append(
            f"WARNING: other processes kept {background:.1f} of {os.cpu_count()} CPU cores busy between runs "
            "(median): these numbers are noisy; rerun on a quiet machine"
        )
    print(report.render(summary, heading), flush=True)
    results = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - (time.perf_counter() - started))),
            "seconds": round(time.perf_counter() - started, 1),
            "git_commit": _git_commit(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "postgres": postgres_version,
            "database": server_label,
            "generator": generator.label,
        },
        "options": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "dataset": dataset.as_dict(),
        "parity": {"checks": checks, "differences": problems},
        "statements": statements,
        "plans": plans,
        "runs": runs,
        "summary": summary,
        "failures": failures,
    }
    path = _write_results(args, results)
    log(f"raw results: {path}")
    log(f"total time {time.perf_counter() - started:.1f} s")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), flush=True)
        return 1
    return 0


async def _all_runs(
    args: argparse.Namespace,
    generator: Generator,
    by_name: dict[str, Server],
    chosen: Sequence[Endpoint],
    admin: asyncpg.Connection,
) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for repetition in range(1, args.repetitions + 1):
        for index, endpoint in enumerate(chosen):
            names = list(by_name)  # each server goes first in turn
            shift = (repetition + index) % len(names)
            order = names[shift:] + names[:shift]
            for position, name in enumerate(order):
                tag = f"r{repetition}{name[0]}{uuid.uuid4().hex[:6]}"
                result = await measure(args, generator, by_name[name], endpoint, tag, list(by_name.values()))
                if endpoint.mode == "signup":
                    await cleanup_signups(admin)
                runs.append(
                    {
                        "repetition": repetition,
                        "endpoint": endpoint.name,
                        "server": name,
                        "position": position,
                        **result,
                    }
                )
                log(
                    f"[{repetition}/{args.repetitions}] {endpoint.name:<24} {name:<8} {result['rps']:>9,.0f} req/s "
                    f"p50 {result['p50_us'] / 1000:7.1f} ms  p99 {result['p99_us'] / 1000:7.1f} ms  "
                    f"errors {result['errors']}"
                )
    return runs


async def _server_version(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return "PostgreSQL " + str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def _write_results(args: argparse.Namespace, results: dict[str, Any]) -> Path:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{'smoke' if args.smoke else args.scale}.json"
    path = args.results_dir / name
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the finally blocks: servers stopped, database dropped


def main(argv: Sequence[str] | None = None) -> int:
    args = resolve_options(build_parser().parse_args(argv))
    if not args.serve:
        signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    try:
        with servers.work_directory() as workdir, servers.postgres_server(workdir) as (server_url, label):
            log(f"PostgreSQL ready after {time.perf_counter() - started:.1f} s: {label}")
            return asyncio.run(benchmark(args, server_url, label, workdir))
    except BenchError as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
