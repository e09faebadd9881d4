"""Admission control for password hashing: bounded CPU work in which sign-in keeps a share sign-ups cannot take.

Argon2 is deliberately slow (tens of milliseconds of a core per hash). Without admission, a flood of sign-ups
queues hashes without bound and every sign-in waits behind all of them. Here each process hashes on its own few
threads; work beyond them waits in a bounded queue where sign-ins go first, and a request that finds no room is
refused at once (503 with ``Retry-After``) instead of queueing. Capacity is a property of the process's CPU, not
state replicas share, so it is counted in the process.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import TypeVar

T = TypeVar("T")


class Work(Enum):
    """Who asks for a hash: a sign-in (verification, served first) or anything else (sign-up, password change)."""

    SIGN_IN = "sign-in"
    OTHER = "other"


class HashingBusyError(Exception):
    """No room for more password hashing in this process right now."""

    def __init__(self, work: Work) -> None:
        super().__init__(f"password hashing is at capacity ({work.value})")
        self.work = work


class HashingGate:
    """``threads`` hashes run at once; up to ``queue`` more wait, of which ``reserved`` only sign-ins may take.

    Waiting sign-ins are started before waiting sign-ups, so a sign-in waits at most for the hashes already
    running and the sign-ins ahead of it. Every admission and refusal is decided synchronously in the event loop:
    there is no await between the check and the count, so concurrent requests cannot overshoot a limit.
    """

    def __init__(self, threads: int, queue: int, reserved: int) -> None:
        if threads < 1 or queue < 0 or not 0 <= reserved <= queue:
            raise ValueError("need threads >= 1 and 0 <= reserved <= queue")
        self.threads = threads
        self.queue = queue
        self.reserved = reserved
        self.running = 0
        self.refused = dict.fromkeys(Work, 0)  # read by service.metrics
        self._waiting: dict[Work, deque[asyncio.Future[None]]] = {Work.SIGN_IN: deque(), Work.OTHER: deque()}
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-hashing")

    @property
    def waiting(self) -> int:
        """Requests queued for a hashing thread."""
        return len(self._waiting[Work.SIGN_IN]) + len(self._waiting[Work.OTHER])

    def _room(self, work: Work) -> bool:
        limit = self.queue if work is Work.SIGN_IN else self.queue - self.reserved
        return self.waiting < limit

    async def run(self, work: Work, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` on a hashing thread once admitted; HashingBusyError at once if there is no room."""
        await self._enter(work)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        finally:
            self._leave()

    async def _enter(self, work: Work) -> None:
        if self.running < self.threads and not self.waiting:
            self.running += 1
            return
        if not self._room(work):
            self.refused[work] += 1
            raise HashingBusyError(work)
        turn = asyncio.get_running_loop().create_future()
        self._waiting[work].append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave()  # the turn was granted as we were cancelled: hand it on
            else:
                self._waiting[work].remove(turn)
            raise

    def _leave(self) -> None:
        for work in (Work.SIGN_IN, Work.OTHER):
            queue = self._waiting[work]
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)  # the thread passes to this waiter: ``running`` is unchanged
                    return
        self.running -= 1

    def close(self) -> None:
        """Stop the threads (after the running hashes finish)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
