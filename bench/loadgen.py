"""The fallback load generator, used only when wrk is not installed: asyncio over raw keep-alive sockets.

It runs in its own process (``python -m bench.loadgen ...``), sends the same requests as ``bench/wrk.lua`` (same
id rotation, same sign-up bodies) over ``--connections`` HTTP/1.1 keep-alive connections for ``--duration``
seconds, and prints the same ``BENCH_RESULT {json}`` line. A Python client on the same machine is slower than
wrk and takes CPU from the servers: its numbers are labelled as the fallback's and compare only with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

STRIDE = 7919  # as bench/wrk.lua
THREAD_OFFSET = 1000003


@dataclass(slots=True)
class Stats:
    latencies: list[float] = field(default_factory=list)
    non2xx: int = 0
    bytes: int = 0
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0


def request_factory(args: argparse.Namespace, host: str, index: int) -> Callable[[], bytes]:
    """Like the wrk script's ``request()`` for connection ``index`` (wrk's thread index plays this role)."""
    counter = index * THREAD_OFFSET
    head = f"Host: {host}\r\nUser-Agent: bench-loadgen\r\n"

    def static() -> bytes:
        return f"GET {args.path} HTTP/1.1\r\n{head}\r\n".encode()

    def by_id() -> bytes:
        nonlocal counter
        counter += 1
        return f"GET {args.prefix}{(counter * STRIDE) % args.max_id + 1} HTTP/1.1\r\n{head}\r\n".encode()

    def signup() -> bytes:
        nonlocal counter
        counter += 1
        body = json.dumps(
            {
                "name": f"Bench user {counter}",
                "email": f"bench-{args.tag}-{index}-{counter}@example.com",
                "password": f"bench password {counter}",
            }
        ).encode()
        return (
            f"POST /users HTTP/1.1\r\n{head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    return {"static": static, "ids": by_id, "signup": signup}[args.mode]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Status and size of one HTTP/1.1 response (Content-Length or chunked body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    size = len(head)
    if "content-length" in headers:
        length = int(headers["content-length"])
        await reader.readexactly(length)
        return status, size + length
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            length = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(length + 2)
            size += length
            if length == 0:
                return status, size
    return status, size


async def connection(host: str, port: int, make: Callable[[], bytes], deadline: float, stats: Stats) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        stats.connect_errors += 1
        return
    try:
        while (remaining := deadline - time.perf_counter()) > 0:
            started = time.perf_counter()
            try:
                writer.write(make())
                await writer.drain()
            except OSError:
                stats.write_errors += 1
                return
            try:
                status, size = await asyncio.wait_for(read_response(reader), timeout=remaining)
            except TimeoutError:
                return  # still running when the time is up: not counted, as with wrk
            except (OSError, asyncio.IncompleteReadError, ValueError):
                stats.read_errors += 1
                return
            stats.latencies.append(time.perf_counter() - started)
            stats.bytes += size
            if not 200 <= status <= 299:
                stats.non2xx += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    args.path = parts.path + (f"?{parts.query}" if parts.query else "")
    stats = Stats()
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(
        *(
            connection(host, port, request_factory(args, f"{host}:{port}", index), deadline, stats)
            for index in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(stats.latencies)
    micro = 1_000_000
    return {
        "requests": len(ordered),
        "duration_us": int(elapsed * micro),
        "bytes": stats.bytes,
        "non2xx": stats.non2xx,
        "connect_errors": stats.connect_errors,
        "read_errors": stats.read_errors,
        "write_errors": stats.write_errors,
        "timeouts": stats.timeouts,
        "p50_us": int(percentile(ordered, 0.50) * micro),
        "p90_us": int(percentile(ordered, 0.90) * micro),
        "p99_us": int(percentile(ordered, 0.99) * micro),
        "max_us": int((ordered[-1] if ordered else 0) * micro),
        "mean_us": round(sum(ordered) / len(ordered) * micro, 1) if ordered else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="base URL plus path for the static mode")
    parser.add_argument("--mode", choices=("static", "ids", "signup"), default="static")
    parser.add_argument("--prefix", default="/", help="path before the id (ids mode)")
    parser.add_argument("--max-id", type=int, default=1, help="ids rotate over 1..max-id (ids mode)")
    parser.add_argument("--tag", default="run", help="part of every sign-up email (signup mode)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Callable[..., dict[str, object]] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    result = runner(run(args))
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
