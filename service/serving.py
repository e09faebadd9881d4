"""uvicorn's server with a drain phase before its graceful shutdown, for processes behind a load balancer."""

from __future__ import annotations

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
