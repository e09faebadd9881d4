"""Sign-in: throttling counters in PostgreSQL (shared by every replica, kept across restarts), the account lookup."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from tortoise.expressions import F, Subquery
from tortoise.queryset import QuerySetSingle
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service.compiled import compiled
from service.db import retry_on_conflict
from service.models import LoginThrottle, User

EXPIRED_BATCH = 100
"""Expired counters of other keys deleted by each failed sign-in, so the table stays small."""


def throttle_keys(email: str, client_address: str | None) -> list[str]:
    """The counters a sign-in attempt counts against: the account, and the client address if known."""
    keys = [f"email:{email}"[:320]]
    if client_address:
        keys.append(f"ip:{client_address}"[:320])
    return keys


def _window_start(window_seconds: int, at: datetime) -> datetime:
    return at - timedelta(seconds=window_seconds)


async def seconds_blocked(keys: list[str], max_failures: int, window_seconds: int) -> int:
    """Seconds until the caller may try again (0 when no key has reached ``max_failures`` in its window)."""
    at = now()
    blocking = await LoginThrottle.filter(
        key__in=keys, failures__gte=max_failures, window_started_at__gte=_window_start(window_seconds, at)
    ).values("window_started_at")
    if not blocking:
        return 0
    latest: datetime = max(row["window_started_at"] for row in blocking)
    remaining = latest + timedelta(seconds=window_seconds) - at
    return max(1, math.ceil(remaining.total_seconds()))


@retry_on_conflict
async def record_failure(keys: list[str], window_seconds: int) -> None:
    """Count a failed sign-in against every key: a window that has run out starts again at one failure.

    The increment is one ``UPDATE ... SET failures = failures + 1`` per transaction, so concurrent failures are
    all counted. Then a few expired counters of other keys are deleted.
    """
    at = now()
    window_start = _window_start(window_seconds, at)
    async with in_transaction():
        await LoginThrottle.filter(key__in=keys, window_started_at__lt=window_start).update(
            failures=0, window_started_at=at
        )
        await LoginThrottle.bulk_create(
            [LoginThrottle(key=key, failures=0, window_started_at=at) for key in keys], ignore_conflicts=True
        )
        await LoginThrottle.filter(key__in=keys).update(failures=F("failures") + 1)
    expired = LoginThrottle.filter(window_started_at__lt=window_start).exclude(key__in=keys).limit(EXPIRED_BATCH)
    await LoginThrottle.filter(key__in=Subquery(expired.values("key"))).delete()


async def forget_failures(email: str) -> None:
    """A successful sign-in clears the account's counter (not the address's: one good account must not reset it)."""
    await LoginThrottle.filter(key=f"email:{email}").delete()


@compiled("email")
def _user_by_email(email: str) -> QuerySetSingle[User | None]:
    return User.filter(email=email).first()


async def fetch_user_by_email(email: str) -> User | None:
    """The account with this (lower-case) email, if any."""
    return await _user_by_email(email)
