"""Prometheus metrics: requests, statements, the pool, the replicas, sign-in refusals and password hashing,
served by Litestar's ``PrometheusController`` and correct with several worker processes.

Each process records its own metrics; with ``WORKERS`` > 1 they write them to ``PROMETHEUS_MULTIPROC_DIR`` (the
client's multiprocess mode, set up by ``python -m service serve``) and a scrape of any process reads them all.
Requests are recorded by ``RequestRecorder``, called by the request log middleware with what it measures anyway
(status, duration, statements), instead of Litestar's ``PrometheusMiddleware``, which cost about half of a read's
CPU (docs/benchmarks.md). Request counts, and the pool, replica and hashing gauges, are copied into the metrics
from this process's state every ``SAMPLE_SECONDS`` and right before a scrape, so a multiprocess scrape sees every
worker's state of at most a second ago.
"""

from __future__ import annotations

import asyncio
import atexit
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import Counter, Gauge, Histogram, multiprocess

from service.db.client import open_pools
from service.db.replicas import replica_states
from service.hashing import Work
from service.security import hashing_gate
from service.settings import Settings

PREFIX = "posts_api"
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_SECONDS = 1.0
FLUSH_AT = 4096
"""Durations a route keeps before they go into its histogram, if no sample came first (bounds the memory)."""
DURATION_BUCKETS: list[str | float] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
REFUSAL_REASONS = ("throttled", "wrong_credentials", "hashing_busy")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The path label of a request no route matched (its raw path would be a new series per URL)."""

REQUESTS = Counter(
    f"{PREFIX}_requests", "Requests answered, by method, route template and status", ["method", "path", "status"]
)
DURATION = Histogram(
    f"{PREFIX}_request_duration_seconds",
    "Time to answer a request, by method and route template",
    ["method", "path"],
    buckets=DURATION_BUCKETS,
)
STATEMENTS = Counter(
    f"{PREFIX}_request_statements",
    "SQL statements sent by requests, by method and route template (divide by the requests for a per-request figure)",
    ["method", "path"],
)
SIGN_IN_REFUSALS = Counter(
    f"{PREFIX}_sign_in_refusals",
    "Refused sign-ins: throttled (429), wrong_credentials (401), hashing_busy (503)",
    ["reason"],
)
POOL_CONNECTIONS = Gauge(
    f"{PREFIX}_db_pool_connections",
    "Pooled connections: open, in_use (lent to a request) and max, per database connection",
    ["database", "state"],
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    f"{PREFIX}_db_pool_waiting", "Requests waiting for a pooled connection", ["database"], multiprocess_mode="livesum"
)
POOL_WAITS = Counter(f"{PREFIX}_db_pool_waits", "Requests that had to wait for a pooled connection", ["database"])
POOL_TIMEOUTS = Counter(
    f"{PREFIX}_db_pool_timeouts", "Requests that gave up waiting for a pooled connection (a 503)", ["database"]
)
REPLICA_STATUS = Gauge(
    f"{PREFIX}_db_replica_status",
    "1 for each read replica's status as this process last found it (ok, lagging, unavailable), else 0",
    ["replica", "status"],
    multiprocess_mode="liveall",
)
REPLICA_LAG = Gauge(
    f"{PREFIX}_db_replica_lag_seconds",
    "Seconds a read replica is behind the primary (NaN when unknown: unreachable, or behind every sample)",
    ["replica"],
    multiprocess_mode="liveall",
)
HASHING = Gauge(
    f"{PREFIX}_password_hashing",
    "Password hashing: running and waiting hashes, threads and queue size",
    ["state"],
    multiprocess_mode="livesum",
)
HASHING_REFUSED = Counter(
    f"{PREFIX}_password_hashing_refused", "Hashes refused at once for lack of room (503), by work", ["work"]
)
for _reason in REFUSAL_REASONS:  # every reason is a series from the start (at 0), for rates and alerts
    SIGN_IN_REFUSALS.labels(_reason)

_seen: dict[tuple[str, str], int] = {}


def _add_since_last(counter: Counter, key: tuple[str, str], total: int) -> None:
    """Advance ``counter`` by what ``total`` (a running count kept elsewhere) has gained since the last sample."""
    gained = total - _seen.get(key, 0)
    _seen[key] = total
    if gained > 0:
        counter.inc(gained)


def sample() -> None:
    """Copy this process's request counts, pool, replica and hashing state into the metrics."""
    for recorder in list(recorders):
        recorder.flush()
    for pool in list(open_pools):
        if pool.is_closing():
            continue
        name, turns = pool.connection_name, pool.turns
        size = pool.get_size()
        POOL_CONNECTIONS.labels(name, "open").set(size)
        POOL_CONNECTIONS.labels(name, "in_use").set(size - pool.get_idle_size())
        POOL_CONNECTIONS.labels(name, "max").set(pool.get_max_size())
        POOL_WAITING.labels(name).set(sum(not waiter.done() for waiter in turns.waiters))
        _add_since_last(POOL_WAITS.labels(name), ("waits", name), turns.waited)
        _add_since_last(POOL_TIMEOUTS.labels(name), ("timeouts", name), turns.timed_out)
    for state in replica_states() or ():
        for status in ("ok", "lagging", "unavailable"):
            REPLICA_STATUS.labels(state.name, status).set(1 if state.status == status else 0)
        REPLICA_LAG.labels(state.name).set(math.nan if state.lag_seconds is None else state.lag_seconds)
    gate = hashing_gate()
    for label, value in (
        ("running", gate.running),
        ("waiting", gate.waiting),
        ("threads", gate.threads),
        ("queue", gate.queue),
    ):
        HASHING.labels(label).set(value)
    for work in Work:
        _add_since_last(HASHING_REFUSED.labels(work.value), ("refused", work.value), gate.refused[work])


class RequestRecorder:
    """Records each answered request: count by method, route template and status, duration, statements sent.

    Each (method, route, status) has an entry made once, where a request adds itself up: two counts and its
    duration appended to a list. ``flush`` (called by ``sample``, or when a list reaches ``FLUSH_AT``) moves them
    into the metrics in one tight loop. Observing each request's duration as it ended cost more than twice the
    CPU per request, measured in the running service (docs/benchmarks.md). Methods outside ``METHODS`` count as
    ``OTHER`` and unrouted paths as ``unmatched``, so what a client sends cannot create series. The metrics path
    itself is not recorded.
    """

    def __init__(self, metrics_path: str) -> None:
        self.metrics_path = metrics_path
        self._entries: dict[tuple[str, str, int], list[Any]] = {}
        recorders.add(self)

    def __call__(self, scope: Any, status: int, seconds: float, statements: int) -> None:
        method = scope["method"]
        key = (method if method in METHODS else "OTHER", scope.get("path_template", UNMATCHED), status)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = self._entry_for(*key)
        if entry:
            entry[0] += 1
            entry[1] += statements
            durations = entry[2]
            durations.append(seconds)
            if len(durations) >= FLUSH_AT:
                _flush(entry)

    def _entry_for(self, method: str, path: str, status: int) -> list[Any]:
        """[requests, statements, durations, requests child, statements child, duration child]; empty: not
        recorded."""
        if path == self.metrics_path:
            return []
        children = REQUESTS.labels(method, path, str(status)), STATEMENTS.labels(method, path)
        return [0, 0, [], *children, DURATION.labels(method, path)]

    def flush(self) -> None:
        """Move what was recorded since the last flush into the metrics."""
        for entry in self._entries.values():
            if entry and entry[0]:
                _flush(entry)


def _flush(entry: list[Any]) -> None:
    requests, statements, durations = entry[0], entry[1], entry[2]
    entry[0], entry[1], entry[2] = 0, 0, []
    entry[3].inc(requests)
    entry[4].inc(statements)
    observe = entry[5].observe
    for seconds in durations:
        observe(seconds)


recorders: weakref.WeakSet[RequestRecorder] = weakref.WeakSet()
"""This process's request recorders (one per app), flushed by ``sample``."""


class MetricsController(PrometheusController):
    """``GET /metrics``: every process's metrics in the Prometheus text format; not part of the API's document."""

    include_in_schema = False

    @get()
    async def get(self) -> Response[Any]:
        sample()
        response: Response[Any] = await PrometheusController.get.fn(self)
        return response


def metrics_controller(settings: Settings) -> type[MetricsController]:
    """The metrics handler at ``METRICS_PATH``."""
    return type("MetricsController", (MetricsController,), {"path": settings.metrics_path})


@asynccontextmanager
async def sampling() -> AsyncIterator[None]:
    """While the block runs, sample every ``SAMPLE_SECONDS`` (each worker, so a scrape of any sees the others);
    at the end, a last sample (the last second's requests are kept) and this process's live gauges leave the
    multiprocess directory."""

    async def every_interval() -> None:
        while True:
            sample()
            await asyncio.sleep(SAMPLE_SECONDS)

    task = asyncio.create_task(every_interval(), name="metrics-sampler")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        sample()
        if os.environ.get(MULTIPROCESS_DIRECTORY):
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def prepare_multiprocess_directory(settings: Settings) -> Path | None:
    """Before worker processes start: a fresh directory for their metrics, named in ``PROMETHEUS_MULTIPROC_DIR``
    (the operator's, emptied of a previous run's files, or a new temporary one, removed when this process exits).
    Nothing to do with metrics off, or with one process and no directory named. Returns the directory."""
    named = os.environ.get(MULTIPROCESS_DIRECTORY, "").strip()
    if not settings.metrics or (settings.workers == 1 and not named):
        return None
    if named:
        for stale in Path(named).glob("*.db"):
            stale.unlink()
        return Path(named)
    created = Path(tempfile.mkdtemp(prefix="posts-api-metrics-"))
    atexit.register(shutil.rmtree, created, ignore_errors=True)
    os.environ[MULTIPROCESS_DIRECTORY] = str(created)
    return created
