"""Reproducible benchmark data, written with COPY through asyncpg.

The same ``seed`` and ``users`` give the same rows, byte for byte (one ``random.Random`` drawn in a fixed order):
``users`` users (about 2 % admins, one in two with a profile), 5 posts each with 0..5 tags drawn from 200 tags.
Every user has the same password hash, computed once by the caller with ``service.security``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

DEFAULT_SEED = 20261125
POSTS_PER_USER = 5
TAG_COUNT = 200
MAX_TAGS_PER_POST = 5
ADMIN_SHARE = 0.02
PROFILE_SHARE = 0.5
PASSWORD = "bench password 1234"
CHUNK_USERS = 20_000
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=365)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_WORDS = _words(
    "alpha beta gamma delta query index table schema vacuum tuple page cache latency throughput request "
    "response server client async await pool socket buffer kernel thread process memory network packet "
    "router python rust postgres json http token signal queue stream batch merge commit branch release deploy "
    "metric trace span log error retry backoff budget limit offset cursor window frame lambda closure module"
)
_TAG_WORDS = _words(
    "python rust go java sql postgres linux devops cloud web api http json testing security performance "
    "databases async design career music travel food books science math physics history art photo games "
    "sports health fitness news opinion tutorial beginner advanced café über"
)
_FIRST = _words("Ada Alan Grace Linus Guido Barbara Ken Dennis Margaret Edsger Zoë Łukasz Björn Amélie 李 Ngozi")
_LAST = _words("Lovelace Turing Hopper Torvalds Rossum Liskov Thompson Ritchie Hamilton Dijkstra Müller Nowak")


@dataclass(frozen=True, slots=True)
class DataSet:
    """What was seeded: row counts (ids are 1..count in every table) and how long it took."""

    users: int
    posts: int
    tags: int
    profiles: int
    admins: int
    post_tags: int
    seed: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tag_names(count: int = TAG_COUNT) -> list[str]:
    """``count`` distinct lower-case tag names (the first ones plain words, then numbered variants)."""
    names = list(_TAG_WORDS[:count])
    round_ = 2
    while len(names) < count:
        names.extend(f"{word}-{round_}" for word in _TAG_WORDS[: count - len(names)])
        round_ += 1
    return names


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(_WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize()


def _stamp(rng: random.Random, base: datetime, max_seconds: int) -> datetime:
    stamp = base + timedelta(seconds=rng.randrange(max_seconds), microseconds=rng.randrange(1_000_000))
    # One in seven has no fraction of a second: its JSON has no ".ffffff" and must still match.
    return stamp.replace(microsecond=0) if rng.randrange(7) == 0 else stamp


@dataclass(slots=True)
class _Chunk:
    users: list[tuple[Any, ...]]
    profiles: list[tuple[Any, ...]]
    posts: list[tuple[Any, ...]]
    links: list[tuple[int, int]]


class _Generator:
    """Rows in id order; text comes from pools drawn once, so 100x data is generated in reasonable time."""

    def __init__(self, users: int, seed: int, password_hash: str) -> None:
        self.rng = random.Random(seed)
        self.users = users
        self.password_hash = password_hash
        self.titles = [_sentence(self.rng, 3, 9) for _ in range(2048)]
        self.bodies = ["\n\n".join(_sentence(self.rng, 8, 30) for _ in range(3)) for _ in range(2048)]
        self.bios = [_sentence(self.rng, 4, 25) for _ in range(512)]
        self.next_post = 1
        self.next_profile = 1
        self.admins = 0

    def chunks(self) -> Iterator[_Chunk]:
        for start in range(1, self.users + 1, CHUNK_USERS):
            yield self._chunk(start, min(start + CHUNK_USERS, self.users + 1))

    def _chunk(self, start: int, stop: int) -> _Chunk:
        rng = self.rng
        chunk = _Chunk([], [], [], [])
        step = SPAN / self.users
        for user_id in range(start, stop):
            created = _stamp(rng, START + step * (user_id - 1), 3600)
            updated = created if rng.random() < 0.5 else _stamp(rng, created, 30 * 86400)
            role = "admin" if rng.random() < ADMIN_SHARE else "member"
            self.admins += role == "admin"
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            chunk.users.append(
                (user_id, name, f"user{user_id}@example.com", self.password_hash, role, 0, created, updated)
            )
            if rng.random() < PROFILE_SHARE:
                bio = None if rng.random() < 0.1 else rng.choice(self.bios)
                website = None if rng.random() < 0.3 else f"https://example.com/~user{user_id}"
                chunk.profiles.append((self.next_profile, user_id, bio, website, created, created))
                self.next_profile += 1
            for _ in range(POSTS_PER_USER):
                post_id = self.next_post
                self.next_post += 1
                posted = _stamp(rng, created, 90 * 86400)
                edited = posted if rng.random() < 0.7 else _stamp(rng, posted, 86400)
                body = None if rng.random() < 0.1 else rng.choice(self.bodies)
                chunk.posts.append((post_id, rng.choice(self.titles), body, user_id, posted, edited))
                for tag_index in rng.sample(range(TAG_COUNT), rng.randint(0, MAX_TAGS_PER_POST)):
                    chunk.links.append((post_id, tag_index + 1))
        return chunk


USER_COLUMNS = ("id", "name", "email", "password_hash", "role", "token_version", "created_at", "updated_at")
PROFILE_COLUMNS = ("id", "user_id", "bio", "website", "created_at", "updated_at")
POST_COLUMNS = ("id", "title", "body", "author_id", "created_at", "updated_at")


async def seed(url: str, users: int, password_hash: str, seed_value: int = DEFAULT_SEED) -> DataSet:
    """Fill the empty, migrated database at ``url``; then reset the id sequences and VACUUM ANALYZE."""
    started = time.perf_counter()
    generator = _Generator(users, seed_value, password_hash)
    connection = await asyncpg.connect(url)
    links = profiles = 0
    try:
        await connection.copy_records_to_table(
            "tags", records=list(enumerate(tag_names(), start=1)), columns=("id", "name")
        )
        for chunk in generator.chunks():
            await connection.copy_records_to_table("users", records=chunk.users, columns=USER_COLUMNS)
            await connection.copy_records_to_table("profiles", records=chunk.profiles, columns=PROFILE_COLUMNS)
            await connection.copy_records_to_table("posts", records=chunk.posts, columns=POST_COLUMNS)
            await connection.copy_records_to_table("post_tags", records=chunk.links, columns=("post_id", "tag_id"))
            links += len(chunk.links)
            profiles += len(chunk.profiles)
        for table in ("users", "profiles", "posts", "tags"):
            next_id = f"(SELECT coalesce(max(id), 0) + 1 FROM {table})"
            await connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {next_id}, false)")
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return DataSet(
        users=users,
        posts=generator.next_post - 1,
        tags=TAG_COUNT,
        profiles=profiles,
        admins=generator.admins,
        post_tags=links,
        seed=seed_value,
        seconds=round(time.perf_counter() - started, 2),
    )
