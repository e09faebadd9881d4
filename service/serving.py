"""What a serving process changes about its runtime: uvicorn's server with a drain phase before its graceful
shutdown (for processes behind a load balancer), and the garbage collector's thresholds."""

from __future__ import annotations

import gc
import signal
import time
from types import FrameType

import uvicorn

from service.health.draining import start_draining


class DrainingServer(uvicorn.Server):
    """The first SIGTERM makes ``/health`` answer 503 while every other request is still served, for
    ``drain_seconds`` (``SHUTDOWN_DRAIN_SECONDS``); then uvicorn's graceful shutdown runs (stop accepting, finish
    in-flight requests within ``SHUTDOWN_GRACE_SECONDS``, close). A balancer's health check takes the process out
    of rotation before any of its connections closes. A second signal, or SIGINT, stops at once."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_seconds > 0 and self.drain_until is None:
            start_draining()
            self.drain_until = time.monotonic() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


GC_THRESHOLDS = (20_000, 50, 50)
"""Young-generation collections every 20,000 net allocations instead of CPython's 700.

A request allocates thousands of short-lived containers (model instances, their dicts, rows, schemas), almost
all freed by reference counting when the request ends; with the default threshold the collector runs several
times per request of a page and walks every object still alive at that moment, the other in-flight requests'
included. Measured under load (`GET /posts?limit=20`, this machine): about 10% less CPU per request, a few MiB
more memory. Cycles are still collected, just in larger batches.
"""


def tune_garbage_collector() -> None:
    """Apply GC_THRESHOLDS to this process (each worker process calls it at start-up)."""
    gc.set_threshold(*GC_THRESHOLDS)
