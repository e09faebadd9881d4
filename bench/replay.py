"""``python -m bench.replay``: the CPU each server spends per request above the driver, without the network.

The service and the baseline are driven in this process through their ASGI apps (as uvicorn calls them, minus the
HTTP parsing), one endpoint at a time, by concurrent tasks. Every statement runs once on a real, seeded database;
after that the driver's reply to the same statement is replayed (asyncpg's ``fetch``/``fetchrow``/``fetchval``
return the recorded records), so what is measured is each server's own Python work per request: routing,
parameters, the pool, the ORM or the hand-written code, building and encoding the response. No PostgreSQL, wrk or
kernel time is in it, which makes it steady (a few percent between runs) where the HTTP benchmark on a shared
machine swings by 10%: the figures to compare two versions of the code with. The ratio to the baseline is not the
HTTP benchmark's, which also counts the load generator, PostgreSQL and the network.

Starts a throwaway PostgreSQL (or uses ``BENCH_DATABASE_URL``/``DATABASE_URL``'s server), migrates and seeds a
database, prints one line per endpoint and server and a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import asyncpg.connection

from bench import seed, servers

ENDPOINTS = {
    "GET /users/{id}": "/users/5",
    "GET /users?role=member": "/users?role=member",
    "GET /posts?limit=20": "/posts?limit=20",
    "GET /posts/{id}": "/posts/5",
}
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def replay_driver_replies() -> None:
    """From now on, asyncpg returns the first reply it got to a statement (with the same arguments) again."""
    replies: dict[tuple[str, str, tuple[Any, ...]], Any] = {}
    connection_class: Any = asyncpg.connection.Connection
    for method in ("fetch", "fetchrow", "fetchval"):
        original = getattr(connection_class, method)

        def replaying(original: Any, method: str) -> Any:
            async def call(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
                key = (method, query, args)
                if key not in replies:
                    replies[key] = await original(self, query, *args, **kwargs)
                return replies[key]

            return call

        setattr(connection_class, method, replaying(original, method))


async def request(app: ASGIApp, target: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> int:
    """One GET through the app; returns the status."""
    scope = _scope_of(target)
    scope["headers"] = [*scope["headers"], (b"accept", b"*/*"), *headers]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def running(app: ASGIApp) -> Callable[[], Awaitable[None]]:
    """Run the app's lifespan start-up; returns the shut-down."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise servers.BenchError(f"start-up failed: {started.get('message', started)}")

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return stop


async def cpu_per_request(
    app: ASGIApp,
    target: str,
    requests: int,
    tasks: int,
    repetitions: int,
    headers: Sequence[tuple[bytes, bytes]] = (),
    expected: int = 200,
) -> float:
    """The least process CPU per request (microseconds) over the repetitions."""

    async def worker(count: int) -> None:
        for _ in range(count):
            status = await request(app, target, headers)
            if status != expected:
                raise servers.BenchError(f"GET {target} answered {status}")

    await asyncio.gather(*(worker(20) for _ in range(tasks)))  # records the replies, warms every cache
    best = float("inf")
    for _ in range(repetitions):
        started = time.process_time()
        await asyncio.gather(*(worker(requests // tasks) for _ in range(tasks)))
        best = min(best, (time.process_time() - started) / (requests // tasks * tasks) * 1e6)
    return best


OBSERVABILITY = ("no metrics", "metrics", "tracing", "tracing 10%")
"""The service's variants compared by ``--observability``: metrics off, metrics on (the default), metrics on and
tracing on (spans made, batched and handed to an exporter that drops them: no serialisation, no network), and the
same with one trace in ten sampled (``OTEL_TRACES_SAMPLER=parentbased_traceidratio``, ``..._ARG=0.1``)."""


def traced_app(settings: Any, sampled: float | None = None) -> Any:
    """The service with tracing on, as the OpenTelemetry variables would turn it on, exporting nowhere; ``sampled``:
    the share of traces kept (all when None)."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from service import tracing
    from service.app import create_app

    class Dropping(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    variables = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    if sampled is not None:
        variables |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": str(sampled)}
    os.environ.update(variables)
    original, tracing.otlp_exporter = tracing.otlp_exporter, Dropping
    try:
        return create_app(settings)
    finally:
        tracing.otlp_exporter = original
        for name in variables:
            del os.environ[name]


def variants(url: str, args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    """The apps to measure, by name: the service and the baseline, or the service's observability variants."""
    from bench import baseline
    from service.app import create_app
    from service.settings import Settings

    env = {
        "DATABASE_URL": url,
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_hex(32),
        "MIGRATE_ON_START": "0",
        "ACCESS_LOG": "0",
        "LOG_LEVEL": "WARNING",
    }
    settings = Settings.from_env(env)
    if not args.observability:
        # Each app is made just before it is measured, and making it sets ORM_FAST_PATH for the process.
        plain = Settings.from_env({**env, "ORM_FAST_PATH": "0"})
        return {
            "service": lambda: create_app(settings),
            "plain": lambda: create_app(plain),
            "baseline": baseline.create_app,
        }
    quiet = Settings.from_env({**env, "METRICS": "0"})
    return {
        "no metrics": lambda: create_app(quiet),
        "metrics": lambda: create_app(settings),
        "tracing": lambda: traced_app(settings),
        "tracing 10%": lambda: traced_app(settings, sampled=0.1),
    }


async def measure(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    os.environ["DATABASE_URL"] = url  # the baseline reads it
    apps = variants(url, args)
    replay_driver_replies()
    figures: dict[str, dict[str, float]] = {name: {} for name in ENDPOINTS}
    # The variants differ by a few microseconds: each is measured in two rounds (A B C A B C), the least kept.
    rounds = 2 if args.observability else 1
    for server, make in [*apps.items()] * rounds:
        app = make()
        stop = await running(app)
        try:
            for name, target in ENDPOINTS.items():
                if args.only and not any(text in name for text in args.only):
                    continue
                cpu = await cpu_per_request(app, target, args.requests, args.tasks, args.repetitions)
                figures[name][server] = min(cpu, figures[name].get(server, cpu))
                print(f"{name:24s} {server:10s} {cpu:8.1f} us CPU per request", flush=True)
                if server == "service":
                    figures[name].update(await validator_figures(app, target, args))
        finally:
            await stop()
    return figures


async def captured(app: ASGIApp, target: str) -> list[Any]:
    """The messages the app sends for one GET of ``target``."""
    messages: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        messages.append(message)

    await app(_scope_of(target), receive, send)
    return messages


def _scope_of(target: str) -> dict[str, Any]:
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


@contextlib.contextmanager
def validators_stubbed() -> Iterator[None]:
    """The reads without their validators: the tag of a read (computed from its rows' versions before it is built,
    ``service.versions``) replaced by a constant, and ``offer`` by nothing."""
    from service.posts import queries as posts
    from service.users import queries as users

    stubs = {
        posts: {"offer": _nothing, "post_tag": _no_tag, "page_tag": _no_tag, "post_numbers": _no_version},
        users: {"offer": _nothing, "user_detail_tag": _no_tag, "page_tag": _no_tag, "user_numbers": _no_version},
    }
    saved = {module: {name: getattr(module, name) for name in names} for module, names in stubs.items()}
    try:
        for module, names in stubs.items():
            for name, stub in names.items():
                setattr(module, name, stub)
        yield
    finally:
        for module, names in saved.items():
            for name, original in names.items():
                setattr(module, name, original)


def _nothing(*args: Any) -> None:
    return None


def _no_tag(*args: Any) -> str:
    return '"-"'


def _no_version(*args: Any) -> list[int]:
    return []


async def validator_figures(app: ASGIApp, target: str, args: argparse.Namespace) -> dict[str, float]:
    """What the validators cost on this read (the read with its tag computed, against the read with a constant
    tag) and what a 304 for a current If-None-Match costs in all."""
    answer = await captured(app, target)
    tag = dict(answer[0]["headers"])[b"etag"]
    # Alternated, the least of each kept: the difference is a few microseconds of a read's hundreds.
    with_tag = without = float("inf")
    for _ in range(3):
        with_tag = min(with_tag, await cpu_per_request(app, target, args.requests, args.tasks, args.repetitions))
        with validators_stubbed():
            without = min(without, await cpu_per_request(app, target, args.requests, args.tasks, args.repetitions))
    not_modified = await cpu_per_request(
        app, target, args.requests, args.tasks, args.repetitions, [(b"if-none-match", tag)], 304
    )
    return {"validators": max(with_tag - without, 0.0), "304": not_modified}


async def prepare_and_measure(server_url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from service import db
    from service.security import hash_password
    from service.settings import Settings

    async with servers.fresh_database(server_url) as url:
        await db.upgrade(Settings.from_env({"DATABASE_URL": url}, serving=False), url)
        await seed.seed(url, args.users, await hash_password(seed.PASSWORD))
        return await measure(url, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per repetition (default 4000)")
    parser.add_argument("--tasks", type=int, default=16, help="concurrent requests (default 16)")
    parser.add_argument("--repetitions", type=int, default=5, help="the least of this many is kept (default 5)")
    parser.add_argument("--users", type=int, default=1000, help="users to seed (default 1000)")
    parser.add_argument("--endpoint", dest="only", action="append", metavar="TEXT", help="only endpoints with TEXT")
    parser.add_argument(
        "--observability",
        action="store_true",
        help="compare the service with metrics off, on, with tracing on, and with a tenth of the traces sampled "
        "(instead of with the baseline)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import uvloop

    args = build_parser().parse_args(argv)
    try:
        with servers.work_directory() as workdir, servers.postgres_server(workdir) as (server_url, _):
            figures = uvloop.run(prepare_and_measure(server_url, args))
    except servers.BenchError as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    print("\nCPU per request, driver replies replayed (microseconds; least of the repetitions)")
    if args.observability:
        heading = " ".join(f"{name:>11s}" for name in OBSERVABILITY)
        print(f"  {'endpoint':24s} {heading}  cost of metrics, tracing, tracing 10%")
        for name, measured in figures.items():
            if set(OBSERVABILITY) <= measured.keys():
                off, *others = (measured[variant] for variant in OBSERVABILITY)
                cpu = " ".join(f"{value:11.1f}" for value in (off, *others))
                costs = " ".join(f"{(value - off) / off:+7.1%}" for value in others)
                print(f"  {name:24s} {cpu}  {costs}")
        return 0
    print(f"  {'endpoint':24s} {'service':>9s} {'baseline':>9s}  service/baseline  plain (ORM_FAST_PATH=0)")
    for name, measured in figures.items():
        if {"service", "baseline"} <= measured.keys():
            service, base = measured["service"], measured["baseline"]
            plain = f"{measured['plain']:9.1f} {measured['plain'] / base:5.2f}x" if "plain" in measured else ""
            print(f"  {name:24s} {service:9.1f} {base:9.1f}  {service / base:5.2f}x            {plain}")
    print("\nValidators: the ETag's cost within the service's read, and a 304 (If-None-Match current) against the 200")
    print(f"  {'endpoint':24s} {'ETag us':>9s} {'share':>7s} {'304 us':>9s} {'304/200':>8s}")
    for name, measured in figures.items():
        if {"service", "validators", "304"} <= measured.keys():
            service, tag, not_modified = measured["service"], measured["validators"], measured["304"]
            print(f"  {name:24s} {tag:9.1f} {tag / service:6.1%} {not_modified:9.1f} {not_modified / service:7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
