"""The benchmarked requests and the load generators that send them (wrk, or the built-in fallback)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.servers import ROOT, BenchError

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
WRK_TIMEOUT = "30s"  # sign-up under load queues for seconds behind Argon2: slow is measured, not an error
RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One benchmarked request: ``static`` (the same URL), ``ids`` (rotating ids) or ``signup`` (POST /users)."""

    name: str
    mode: str
    path: str
    max_id: int = 1


def endpoints(users: int, posts: int) -> list[Endpoint]:
    """Reads first, sign-up last (its rows are deleted after each of its runs, so reads always see the seed)."""
    return [
        Endpoint("GET /users/{id}", "ids", "/users/", users),
        Endpoint("GET /users?role=member", "static", "/users?role=member"),
        Endpoint("GET /posts?limit=20", "static", "/posts?limit=20"),
        Endpoint("GET /posts/{id}", "ids", "/posts/", posts),
        Endpoint("POST /users", "signup", "/users"),
    ]


@dataclass(frozen=True, slots=True)
class Generator:
    """Which load generator runs, with its label for the table."""

    kind: str  # "wrk" or "python"
    label: str


def choose_generator(preference: str) -> Generator:
    wrk = shutil.which("wrk")
    if preference in ("auto", "wrk") and wrk:
        version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        first = (version.stdout or version.stderr).splitlines()[0] if (version.stdout or version.stderr) else "wrk"
        match = re.search(r"wrk\s+(\S+)", first)
        return Generator("wrk", f"wrk {match.group(1) if match else ''}".strip())
    if preference == "wrk":
        raise BenchError("wrk is not installed (Debian: apt-get install -y wrk); or use --generator python")
    reason = "chosen with --generator python" if wrk else "wrk is not installed"
    return Generator("python", f"FALLBACK built-in Python generator (asyncio, raw sockets; {reason})")


async def run_load(
    generator: Generator,
    base_url: str,
    endpoint: Endpoint,
    *,
    connections: int,
    threads: int,
    duration: float,
    tag: str,
) -> dict[str, Any]:
    """Drive ``endpoint`` on ``base_url`` for ``duration`` seconds from another process; the parsed summary."""
    env = {**os.environ}
    if generator.kind == "wrk":
        env.update(BENCH_MODE=endpoint.mode, BENCH_PREFIX=endpoint.path, BENCH_MAX_ID=str(endpoint.max_id))
        env["BENCH_TAG"] = tag
        url = base_url + (endpoint.path if endpoint.mode == "static" else "/")
        argv = [
            "wrk",
            f"--threads={min(threads, connections)}",
            f"--connections={connections}",
            f"--duration={max(1, round(duration))}s",
            f"--timeout={WRK_TIMEOUT}",
            f"--script={WRK_SCRIPT}",
            url,
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "bench.loadgen",
            f"--url={base_url + (endpoint.path if endpoint.mode == 'static' else '/')}",
            f"--mode={endpoint.mode}",
            f"--prefix={endpoint.path}",
            f"--max-id={endpoint.max_id}",
            f"--tag={tag}",
            f"--connections={connections}",
            f"--duration={duration}",
        ]
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    text = stdout.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            break
    else:
        raise BenchError(
            f"{generator.kind} gave no result for {endpoint.name} (exit {process.returncode}):\n"
            f"{text[-2000:]}\n{stderr.decode(errors='replace')[-2000:]}"
        )
    seconds = result["duration_us"] / 1_000_000 or 1.0
    result["rps"] = result["requests"] / seconds
    result["socket_errors"] = sum(result[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    result["errors"] = result["non2xx"] + result["socket_errors"]
    return result
