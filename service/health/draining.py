"""A process that was asked to stop but still serves: its health check fails so balancers take it out of rotation.

Per process by nature (it is this process's own lifecycle), so it lives in process memory.
"""

from __future__ import annotations

import threading

_draining = threading.Event()


def start_draining() -> None:
    """From now on ``/health`` answers 503 ``"status": "draining"``; every other request is served as before."""
    _draining.set()


def is_draining() -> bool:
    return _draining.is_set()
