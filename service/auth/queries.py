"""Sign-in throttling in PostgreSQL: counters every replica shares and that survive restarts."""

from __future__ import annotations

import math

from tortoise import connections

from service.models import User

# One statement per failed sign-in: bump (or restart) the window of each key atomically, and clear a few expired
# counters of other keys on the way so the table stays small. Raw SQL because the ORM has no conditional upsert.
_RECORD_FAILURE = """
WITH expired AS (
    DELETE FROM login_throttles
    WHERE key IN (
        SELECT key FROM login_throttles
        WHERE window_started_at < now() - make_interval(secs => $2) AND key <> ALL($1::varchar[])
        LIMIT 100
    )
)
INSERT INTO login_throttles AS t (key, failures, window_started_at)
SELECT k, 1, now() FROM unnest($1::varchar[]) AS k
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.window_started_at < now() - make_interval(secs => $2) THEN 1 ELSE t.failures + 1 END,
    window_started_at = CASE
        WHEN t.window_started_at < now() - make_interval(secs => $2) THEN now() ELSE t.window_started_at END
"""
_SECONDS_BLOCKED = """
SELECT coalesce(max(extract(epoch FROM window_started_at + make_interval(secs => $2) - now())), 0) AS seconds
FROM login_throttles
WHERE key = ANY($1::varchar[]) AND failures >= $3 AND window_started_at >= now() - make_interval(secs => $2)
"""


def throttle_keys(email: str, client_address: str | None) -> list[str]:
    """The counters a sign-in attempt counts against: the account, and the client address if known."""
    keys = [f"email:{email}"[:320]]
    if client_address:
        keys.append(f"ip:{client_address}"[:320])
    return keys


async def seconds_blocked(keys: list[str], max_failures: int, window_seconds: int) -> int:
    """Seconds until the caller may try again (0 when no key has reached ``max_failures`` in its window)."""
    rows = await connections.get("default").execute_query_dict(_SECONDS_BLOCKED, [keys, window_seconds, max_failures])
    return math.ceil(float(rows[0]["seconds"]))


async def record_failure(keys: list[str], window_seconds: int) -> None:
    """Count a failed sign-in against every key."""
    await connections.get("default").execute_query(_RECORD_FAILURE, [keys, window_seconds])


async def forget_failures(email: str) -> None:
    """A successful sign-in clears the account's counter (not the address's: one good account must not reset it)."""
    await connections.get("default").execute_query("DELETE FROM login_throttles WHERE key = $1", [f"email:{email}"])


async def fetch_user_by_email(email: str) -> User | None:
    """The account with this (lower-case) email, if any."""
    return await User.get_or_none(email=email)
