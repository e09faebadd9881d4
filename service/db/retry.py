"""Transactions that PostgreSQL aborts as deadlock victims or serialization failures run again."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg

logger = logging.getLogger("service.db")

P = ParamSpec("P")
R = TypeVar("R")
RETRIES = 3


def retry_on_conflict(write: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run ``write`` (a whole transaction or single statement) again when PostgreSQL aborts it as a deadlock
    victim or for a serialization failure: concurrent writers touch the same counter rows (migration 3) in an
    order the database, not the code, decides. After RETRIES attempts the error propagates (a 503).
    """

    @functools.wraps(write)
    async def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, RETRIES + 1):
            try:
                return await write(*args, **kwargs)
            except asyncpg.TransactionRollbackError:
                if attempt == RETRIES:
                    raise
                logger.info("retrying %s after a transaction conflict (attempt %d)", write.__qualname__, attempt)
                await asyncio.sleep(random.uniform(0.001, 0.01) * attempt)  # noqa: S311 - jitter, not crypto
        raise AssertionError("unreachable")

    return retried
