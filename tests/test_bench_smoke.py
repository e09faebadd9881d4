"""The benchmark harness end to end (``python -m bench --smoke``), and a baseline that answers like the service.

Nothing here looks at timings: the smoke run proves the harness works (servers start, every endpoint is driven
without an error, a table is printed), and the parity tests prove the baseline is measured on the same answers.
Both use the suite's PostgreSQL choice: TEST_DATABASE_URL's server if set, otherwise an embedded one.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = ("GET /users/{id}", "GET /users?role=member", "GET /posts?limit=20", "GET /posts/{id}", "POST /users")
USERS = 300  # seeded by the parity fixture: posts are 1..5 * USERS
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|\+00:00)$")


def bench_env() -> dict[str, str]:
    """The environment for ``python -m bench``: the suite's database server, never a developer's DATABASE_URL."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "BENCH_DATABASE_URL")}
    external = os.environ.get("TEST_DATABASE_URL", "").strip()
    if external:
        env["BENCH_DATABASE_URL"] = external
    return env


def run_module(module: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m module arguments`` from the project root with ``bench_env()``; fails the test unless it exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"{module} failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result


def test_smoke_run_exits_0_and_prints_a_table_with_every_endpoint(tmp_path: Path) -> None:
    result = run_module("bench", "--smoke", "--results-dir", str(tmp_path))
    lines = result.stdout.splitlines()
    summary = lines.index(next(line for line in lines if line.startswith("Summary")))
    for name in ENDPOINTS:
        assert name in lines[:summary], f"no table block for {name}:\n{result.stdout}"
        assert any(line.strip().startswith(name) for line in lines[summary:]), f"{name} missing from the summary"
    for server in ("service", "baseline"):
        assert sum(line.strip().startswith(server + " ") for line in lines) == len(ENDPOINTS)
    [results] = tmp_path.glob("*.json")
    data = json.loads(results.read_text())
    assert data["failures"] == []
    assert data["parity"]["differences"] == []
    assert {run["endpoint"] for run in data["runs"]} == set(ENDPOINTS)
    assert all(run["requests"] > 0 and run["errors"] == 0 for run in data["runs"])


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The service and the baseline on the same freshly seeded database, started by ``python -m bench --serve``."""
    log = (tmp_path_factory.mktemp("bench") / "serve.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "--serve", "--users", str(USERS)],
        cwd=ROOT,
        env=bench_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        deadline = time.monotonic() + 120
        info: dict[str, Any] | None = None
        while info is None and time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                line = process.stdout.readline()
                if line.startswith("BENCH_SERVERS "):
                    info = json.loads(line.removeprefix("BENCH_SERVERS "))
        if info is None:
            log.seek(0)
            pytest.fail(f"python -m bench --serve did not start (exit {process.poll()}):\n{log.read()[-4000:]}")
        yield info
    finally:
        process.stdin.close()  # --serve stops both servers and its database when stdin closes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def both(servers: dict[str, Any], method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
    service = httpx.request(method, servers["service"] + path, timeout=30, **kwargs)
    baseline = httpx.request(method, servers["baseline"] + path, timeout=30, **kwargs)
    return service, baseline


READS = [
    *(f"/users/{user_id}" for user_id in (1, 2, 3, 17, 150, USERS)),
    f"/users/{USERS + 1}",
    "/users/0",
    "/users?role=member",
    "/users?role=admin",
    "/users?role=member&limit=5&offset=40",
    f"/users?role=member&offset={USERS}",
    "/posts?limit=20",
    "/posts?limit=3&offset=100",
    *(f"/posts/{post_id}" for post_id in (1, 2, 99, 777, 5 * USERS)),
    f"/posts/{5 * USERS + 1}",
]


@pytest.mark.parametrize("path", READS)
def test_the_baseline_answers_a_read_exactly_like_the_service(servers: dict[str, Any], path: str) -> None:
    """The same JSON, but for a page's ``next_cursor``: the baseline pages by offset only (bench/parity.py)."""
    service, baseline = both(servers, "GET", path)
    assert service.status_code == baseline.status_code
    answer = service.json()
    if isinstance(answer, dict) and "items" in answer:
        cursor = answer.pop("next_cursor")
        assert cursor is None or isinstance(cursor, str)
    assert answer == baseline.json()
    assert list(answer) == list(baseline.json())  # same fields in the same order


def _timestamps(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("created_at", "updated_at"):
                yield item
            else:
                yield from _timestamps(item)
    elif isinstance(value, list):
        for item in value:
            yield from _timestamps(item)


@pytest.mark.parametrize("path", ["/users/1", "/users?role=member", "/posts?limit=20", "/posts/1"])
def test_timestamps_are_iso_8601_in_utc_and_really_compared(servers: dict[str, Any], path: str) -> None:
    service, _ = both(servers, "GET", path)
    stamps = list(_timestamps(service.json()))
    assert stamps
    assert all(TIMESTAMP.match(stamp) for stamp in stamps), stamps


def test_the_data_has_what_the_comparisons_need(servers: dict[str, Any]) -> None:
    """Users with and without a profile, posts with and without tags or body: each shape is compared above."""
    detail = [httpx.get(f"{servers['service']}/users/{user_id}").json() for user_id in range(1, 21)]
    assert {user["profile"] is None for user in detail} == {True, False}
    posts = httpx.get(f"{servers['service']}/posts?limit=100").json()["items"]
    assert {bool(post["tags"]) for post in posts} == {True, False}
    assert {post["body"] is None for post in posts} == {True, False}


def test_the_baseline_signs_up_like_the_service(servers: dict[str, Any]) -> None:
    tag = uuid.uuid4().hex[:8]
    answers = {}
    for name in ("service", "baseline"):
        body = {"name": " Ada  ", "email": f"Bench-Test-{tag}-{name}@Example.COM", "password": "a secret phrase"}
        created = httpx.post(f"{servers[name]}/users", json=body, timeout=30)
        duplicate = httpx.post(f"{servers[name]}/users", json=body, timeout=30)
        answers[name] = (created, duplicate, body["email"].lower())
    (service, service_dup, service_email), (baseline, baseline_dup, baseline_email) = answers.values()
    assert service.status_code == baseline.status_code == 201
    assert service.json()["email"] == service_email
    assert baseline.json()["email"] == baseline_email
    assert list(service.json()) == list(baseline.json())
    per_user = ("id", "email", "created_at", "updated_at")
    assert {k: v for k, v in service.json().items() if k not in per_user} == {
        k: v for k, v in baseline.json().items() if k not in per_user
    }
    assert service_dup.status_code == baseline_dup.status_code == 409
    assert service_dup.json() == baseline_dup.json()


def test_the_replay_benchmark_measures_every_read_of_both_servers() -> None:
    """``python -m bench.replay`` (CPU per request with the driver's replies replayed) runs end to end, the service
    (fast path on and off) and the baseline answer every read with 200 (it fails otherwise), and its summary has a
    figure for each."""
    result = run_module("bench.replay", "--requests", "64", "--tasks", "4", "--repetitions", "1", "--users", "50")
    summary = result.stdout.split("CPU per request, driver replies replayed", 1)[1]
    for name in ENDPOINTS[:4]:
        figures = r"\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x$"  # service, baseline, plain
        row = re.search(rf"^\s+{re.escape(name)}{figures}", summary, re.MULTILINE)
        assert row is not None, f"no summary row for {name}:\n{result.stdout}"
        assert all(float(value) > 0 for value in row.groups())


def test_the_replay_benchmark_compares_metrics_off_on_and_tracing() -> None:
    """``python -m bench.replay --observability`` measures the service without metrics, with them, and with tracing
    too (every read answered 200 by each variant), and reports the two costs."""
    result = run_module(
        "bench.replay", "--observability", "--requests", "64", "--tasks", "4", "--repetitions", "1", "--users", "50"
    )
    summary = result.stdout.split("CPU per request, driver replies replayed", 1)[1]
    number, share = r"([\d.]+)", r"([+-][\d.]+)%"
    for name in ENDPOINTS[:4]:
        pattern = rf"^\s+{re.escape(name)}" + rf"\s+{number}" * 4 + rf"\s+{share}" * 3 + "$"
        row = re.search(pattern, summary, re.MULTILINE)
        assert row is not None, f"no summary row for {name}:\n{result.stdout}"
        off, metrics, traced, sampled = (float(value) for value in row.groups()[:4])
        assert min(off, metrics, traced, sampled) > 0
        # the shares come from the unrounded figures: allow for the rounding of the ones printed
        assert float(row[5]) == pytest.approx((metrics - off) / off * 100, abs=0.5)
        assert float(row[6]) == pytest.approx((traced - off) / off * 100, abs=0.5)


def test_the_sign_in_flood_benchmark_reports_sign_ins_and_what_the_sign_ups_got() -> None:
    result = run_module("bench.signin", "--smoke")
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| sign")}
    assert set(rows) == {
        "sign-in, quiet",
        "sign-in, during the flood",
        "sign-up, created (201)",
        "sign-up, refused (503)",
    }
    assert int(rows["sign-in, quiet"].split("|")[2]) == 3
    assert int(rows["sign-in, during the flood"].split("|")[2]) >= 3
    created = int(rows["sign-up, created (201)"].split("|")[2])
    refused = int(rows["sign-up, refused (503)"].split("|")[2])
    assert created + refused == 30
    assert f"({created} created, {refused} refused with 503)" in result.stdout


@pytest.mark.requires_program("valgrind")
def test_the_instruction_count_benchmark_counts_every_read_of_both_servers() -> None:
    """``python -m bench.instructions`` runs both servers under callgrind and reports, for each read, thousands of
    instructions per request of each (every read answered 200: it fails otherwise) and their ratio."""
    result = run_module(
        "bench.instructions", "--requests", "16", "--warmup", "2", "--connections", "4", "--users", "50"
    )
    summary = result.stdout.split("Thousands of instructions per request", 1)[1]
    for name in ENDPOINTS[:4]:
        row = re.search(rf"^\s+{re.escape(name)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x$", summary, re.MULTILINE)
        assert row is not None, f"no summary row for {name}:\n{result.stdout}"
        service, baseline, ratio = (float(value) for value in row.groups())
        assert service > 100  # a request is hundreds of thousands of instructions, not a few
        assert baseline > 100
        assert ratio == pytest.approx(baseline / service, abs=0.01)


@pytest.mark.requires_program("valgrind")
def test_the_parts_benchmark_counts_every_part_of_a_page() -> None:
    """``python -m bench.parts`` counts each part of a page of posts under callgrind: every part has a count, and
    the parts the read is made of add up to no more than the read."""
    from bench.parts import PARTS

    result = run_module("bench.parts", "--pages", "3", "--users", "50")
    summary = result.stdout.split("Thousands of instructions per page", 1)[1]
    counted = {}
    for label in PARTS:
        row = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)$", summary, re.MULTILINE)
        assert row is not None, f"no row for {label}:\n{result.stdout}"
        counted[label] = float(row.group(1))
    assert all(thousands > 1 for thousands in counted.values()), counted
    inside = ("statement", "hydration", "schemas", "entity tag")
    assert sum(counted[label] for label in inside) < counted["read"] * 1.2, counted
