"""Entity tags from row versions: what a representation shows is known from the rows it is built from, before it is
built, so that a read whose ``If-None-Match`` names it answers 304 without building it.

A representation of a user, a post or a page of them is a function of the request (the list, its filters and
order, its page; the caller's view, which picks the response schema) and of rows whose every change moves their
``updated_at``: a post's title, body and tags (``service.posts.queries.update_post``), a user's name, email and
role (``service.users.queries._apply_update``), a profile's fields (``_upsert_profile``); a row that comes or goes
changes the ids (and counts) shown. So the tag of a representation is a digest of: the response schema's own JSON
schema (a release that changes what it shows changes every tag), the ids and ``updated_at`` of every row shown
(with the author of each post and the profile and recent posts of a user), the counts, and a page's limit, offset,
total and next cursor. Two processes or replicas compute the same tag for the same rows, in either
``ORM_FAST_PATH`` mode (the instances are the same: ``tests/test_compiled.py``).

Representations that are not built from such rows (the tag list, a profile answer, ``/users/me``) keep the digest
of their bytes (``service.conditional``).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from typing import Any

from pydantic import BaseModel

from service.models import Post, User
from service.pages import Page

TAG_FORMAT = b"versions-1"
"""Changed by hand when the recipe below changes (so that no tag of the old recipe is taken for one of the new)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@cache
def schema_fingerprint(schema: type[BaseModel]) -> bytes:
    """A digest of what ``schema`` shows (its JSON schema: fields, types, order, constraints)."""
    document = json.dumps(schema.model_json_schema(), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(TAG_FORMAT + b"\0" + document, digest_size=16).digest()


_UTC_EPOCHS: dict[tzinfo, datetime] = {}
"""The epoch in each UTC zone object met (Tortoise's own, ``datetime.UTC``): subtracting two datetimes of the same
zone object skips both offsets (a third of the cost), which is exact only for a zone without offsets."""


def stamp(moment: datetime) -> int:
    """A timestamp as whole microseconds since the epoch (``updated_at`` is stored to the microsecond)."""
    zone = moment.tzinfo
    epoch = _UTC_EPOCHS.get(zone) if zone is not None else None
    if epoch is None:
        if zone is None or str(zone) not in ("UTC", "Etc/UTC") or zone.utcoffset(moment):
            return (moment - _EPOCH) // _MICROSECOND
        epoch = _UTC_EPOCHS.setdefault(zone, _EPOCH.astimezone(zone))
    return (moment - epoch) // _MICROSECOND


def _tag(schema: type[BaseModel], numbers: Iterable[int], extra: bytes = b"") -> str:
    digest = hashlib.blake2b(schema_fingerprint(schema), digest_size=16)
    digest.update(array("q", numbers).tobytes())
    digest.update(extra)
    return f'"{digest.hexdigest()}"'


def post_numbers(posts: Iterable[Post]) -> list[int]:
    """What decides each post's representation: its id and ``updated_at`` (tags included), and its author's (the
    name shown)."""
    numbers: list[int] = []
    append = numbers.append
    for post in posts:
        author: User = post.author  # select_related: no query
        append(post.id)
        append(stamp(post.updated_at))
        append(author.id)
        append(stamp(author.updated_at))
    return numbers


def user_numbers(users: Iterable[User]) -> list[int]:
    """What decides each user's representation in a list: the id and ``updated_at``."""
    numbers: list[int] = []
    append = numbers.append
    for user in users:
        append(user.id)
        append(stamp(user.updated_at))
    return numbers


def post_tag(schema: type[BaseModel], post: Post) -> str:
    """The tag of one post as ``schema`` shows it."""
    return _tag(schema, post_numbers((post,)))


def user_detail_tag(schema: type[BaseModel], user: User) -> str:
    """The tag of one user with profile, post count and recent posts (prefetched) as ``schema`` shows them."""
    profile = user.profile  # select_related: None when there is none
    numbers = [user.id, stamp(user.updated_at), getattr(user, "post_count", 0)]
    numbers += (profile.id, stamp(profile.updated_at)) if profile is not None else (0, 0)
    for post in user.posts:  # prefetched: no query
        numbers += (post.id, stamp(post.updated_at))
    return _tag(schema, numbers)


def page_tag(schema: type[BaseModel], page: Page[Any], numbers: list[int]) -> str:
    """The tag of a page of ``schema`` items whose rows give ``numbers`` (``post_numbers``, ``user_numbers``);
    ``page``'s items are not read (they may not be built yet), only its limit, offset, total and next cursor."""
    return _tag(schema, numbers, repr((page.limit, page.offset, page.total, page.next_cursor)).encode())
