"""Sign-in: throttling counters in PostgreSQL (shared by every replica, kept across restarts), the account lookup.

An attempt is reserved before its password is verified: the counters are locked, checked and incremented in one
transaction, so however many attempts arrive at once, no more than a limit's worth of them is ever verified in a
window. A successful sign-in gives its reservation back; a failed one keeps it (it was a failure).
"""

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
KEY_LENGTH = 320


@dataclass(frozen=True, slots=True)
class Limit:
    """A throttle counter: ``max_failures`` failed sign-ins in ``window_seconds`` under ``key``, then 429."""

    key: str
    max_failures: int
    window_seconds: int


def account_key(email: str) -> str:
    return f"email:{email}"[:KEY_LENGTH]


def pair_key(email: str, client_address: str) -> str:
    return f"email:{email} ip:{client_address}"[:KEY_LENGTH]


def address_key(client_address: str) -> str:
    return f"ip:{client_address}"[:KEY_LENGTH]


def throttle_limits(email: str, client_address: str | None, settings: Settings) -> list[Limit]:
    """The counters a sign-in attempt counts against, tightest first.

    - the account from this address (``LOGIN_MAX_FAILURES``): a few failures lock this address out of this account,
      not the owner signing in from anywhere else;
    - the account from everywhere (``LOGIN_ACCOUNT_MAX_FAILURES``): a ceiling for guessing spread over many
      addresses;
    - the address over every account (``LOGIN_ADDRESS_MAX_FAILURES``): many, since an office behind one address
      signs in from it, and one user's typos must not lock out the others.
    """
    if not client_address:  # served on a socket without addresses: every caller is one caller
        return [Limit(account_key(email), settings.login_max_failures, settings.login_window_seconds)]
    return [
        Limit(pair_key(email, client_address), settings.login_max_failures, settings.login_window_seconds),
        Limit(account_key(email), settings.login_account_max_failures, settings.login_account_window_seconds),
        Limit(address_key(client_address), settings.login_address_max_failures, settings.login_address_window_seconds),
    ]


def _window_start(window_seconds: int, at: datetime) -> datetime:
    return at - timedelta(seconds=window_seconds)


def _seconds_until(ends: list[datetime], at: datetime) -> int:
    return max(1, math.ceil((max(ends) - at).total_seconds()))


async def seconds_blocked(limits: list[Limit]) -> int:
    """Seconds until the caller may try again (0 when no counter has reached its limit in its window).

    A read without locks: it turns away an attempt that is already over a limit without queueing behind the
    writers. Passing it reserves nothing; ``reserve_attempt`` decides.
    """
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
    return _seconds_until([row["window_started_at"] + timedelta(seconds=windows[row["key"]]) for row in blocking], at)


@retry_on_conflict
async def reserve_attempt(limits: list[Limit]) -> int:
    """Count this attempt against every counter, or against none: 0 when reserved, else the seconds to wait.

    One transaction: the counters are created if missing, locked in key order (so concurrent attempts queue
    rather than deadlock), checked, and incremented; a counter whose window has run out starts again at one. When
    any counter is at its limit nothing is incremented.
    """
    at = now()
    ordered = sorted(limits, key=lambda limit: limit.key)
    keys = [limit.key for limit in ordered]
    async with in_transaction("default"):
        await LoginThrottle.bulk_create(
            [LoginThrottle(key=key, failures=0, window_started_at=at) for key in keys], ignore_conflicts=True
        )
        counters = {
            row.key: row for row in await LoginThrottle.filter(key__in=keys).order_by("key").select_for_update()
        }
        ends: list[datetime] = []
        for limit in ordered:
            counter = counters[limit.key]
            if counter.window_started_at < _window_start(limit.window_seconds, at):
                counter.failures, counter.window_started_at = 0, at
            if counter.failures >= limit.max_failures:
                ends.append(counter.window_started_at + timedelta(seconds=limit.window_seconds))
            counter.failures += 1
        if ends:
            return _seconds_until(ends, at)  # nothing counted (only missing counters created, at zero)
        await LoginThrottle.bulk_update(list(counters.values()), fields=["failures", "window_started_at"])
    return 0


async def give_back(limits: list[Limit]) -> None:
    """Return a reservation whose password could not be checked (no failure happened)."""
    await LoginThrottle.filter(key__in=[limit.key for limit in limits], failures__gt=0).update(
        failures=F("failures") - 1
    )


async def signed_in(limits: list[Limit]) -> None:
    """A successful sign-in clears the tightest counter (this account from this address) and gives its reservation
    back to the others: a good password must not reset what guessers elsewhere have spent."""
    tightest, *others = limits
    await LoginThrottle.filter(key=tightest.key).delete()
    if others:
        await give_back(others)


async def delete_expired(limits: list[Limit]) -> None:
    """Delete a few counters of other keys whose windows have all run out, so the table stays small."""
    at = now()
    longest = max(limit.window_seconds for limit in limits)
    expired = (
        LoginThrottle.filter(window_started_at__lt=_window_start(longest, at))
        .exclude(key__in=[limit.key for limit in limits])
        .limit(EXPIRED_BATCH)
    )
    await LoginThrottle.filter(key__in=Subquery(expired.values("key"))).delete()


async def revoke_tokens(user_id: int) -> None:
    """Every token issued to the account so far stops working (its token version moves on, atomically)."""
    await User.filter(id=user_id).update(token_version=F("token_version") + 1)


@compiled("email")
def _user_by_email(email: str) -> QuerySetSingle[User | None]:
    return User.filter(email=email).first()


async def fetch_user_by_email(email: str) -> User | None:
    """The account with this (lower-case) email, if any."""
    return await _user_by_email(email)
