"""Sign-in: throttling counters in PostgreSQL (shared by every replica, kept across restarts), the account lookup."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySetSingle
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from service.db import retry_on_conflict
from service.models import LoginThrottle, User
from service.orm import compiled
from service.settings import Settings

EXPIRED_BATCH = 100
"""Expired counters of other keys deleted by each failed sign-in, so the table stays small."""


@dataclass(frozen=True, slots=True)
class Limit:
    """A throttle counter: ``max_failures`` failed sign-ins in ``window_seconds`` under ``key``, then 429."""

    key: str
    max_failures: int
    window_seconds: int


def throttle_limits(email: str, client_address: str | None, settings: Settings) -> list[Limit]:
    """The counters a sign-in attempt counts against: the account (a few failures), and the client address (many:
    an office behind one address signs in from it, and one user's typos must not lock out the others)."""
    limits = [Limit(f"email:{email}"[:320], settings.login_max_failures, settings.login_window_seconds)]
    if client_address:
        limits.append(
            Limit(
                f"ip:{client_address}"[:320],
                settings.login_address_max_failures,
                settings.login_address_window_seconds,
            )
        )
    return limits


def _window_start(window_seconds: int, at: datetime) -> datetime:
    return at - timedelta(seconds=window_seconds)


async def seconds_blocked(limits: list[Limit]) -> int:
    """Seconds until the caller may try again (0 when no counter has reached its limit in its window)."""
    at = now()
    reached = Q(
        *(
            Q(
                key=limit.key,
                failures__gte=limit.max_failures,
                window_started_at__gte=_window_start(limit.window_seconds, at),
            )
            for limit in limits
        ),
        join_type="OR",
    )
    blocking = await LoginThrottle.filter(reached).values("key", "window_started_at")
    if not blocking:
        return 0
    windows = {limit.key: limit.window_seconds for limit in limits}
    ends: list[datetime] = [row["window_started_at"] + timedelta(seconds=windows[row["key"]]) for row in blocking]
    return max(1, math.ceil((max(ends) - at).total_seconds()))


@retry_on_conflict
async def record_failure(limits: list[Limit]) -> None:
    """Count a failed sign-in against every counter: one whose window has run out starts again at one failure.

    The increment is one ``UPDATE ... SET failures = failures + 1`` per transaction, so concurrent failures are
    all counted. Then a few expired counters of other keys are deleted.
    """
    at = now()
    keys = [limit.key for limit in limits]
    expired_mine = Q(
        *(Q(key=limit.key, window_started_at__lt=_window_start(limit.window_seconds, at)) for limit in limits),
        join_type="OR",
    )
    async with in_transaction("default"):
        await LoginThrottle.filter(expired_mine).update(failures=0, window_started_at=at)
        await LoginThrottle.bulk_create(
            [LoginThrottle(key=key, failures=0, window_started_at=at) for key in keys], ignore_conflicts=True
        )
        await LoginThrottle.filter(key__in=keys).update(failures=F("failures") + 1)
    longest = max(limit.window_seconds for limit in limits)
    expired = (
        LoginThrottle.filter(window_started_at__lt=_window_start(longest, at))
        .exclude(key__in=keys)
        .limit(EXPIRED_BATCH)
    )
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
