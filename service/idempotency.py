"""Safe POST retries (the IETF httpapi Idempotency-Key draft): the first answer to a key is kept, a retry gets it.

``POST /users`` and ``POST /posts`` take an ``Idempotency-Key`` header (1 to 255 printable ASCII characters, no
surrounding spaces). The key is claimed in PostgreSQL (every replica sees it) under its owner (the token's account,
or ``anonymous`` for a sign-up without one) before the request runs; then:

- a repeat with the same key and the same request (method, path, body) within ``IDEMPOTENCY_KEY_HOURS`` gets the
  first success again (status and body, with ``Idempotent-Replayed: true``) and nothing is written twice;
- the same key with another request is 422; a repeat while the first is still running is 409;
- a first request that did not succeed frees its key, so the client may fix the request and retry with it.

What identifies a request is an HMAC of it keyed with the service's secret: no password is stored, not even a fast
hash of one. Expired keys are deleted a few at a time by later claims.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, ReceiveMessage, Scope, Send
from tortoise.expressions import Subquery
from tortoise.timezone import now

from service.conditional import entity_tag, request_header
from service.models import IdempotencyKey
from service.security import InvalidTokenError, read_token

HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
"""1 to 255 printable ASCII characters, no space at either end."""
IDEMPOTENT = "idempotent"
"""A route handler ``opt`` key: its POST takes an ``Idempotency-Key``."""
STALE_CLAIM = timedelta(seconds=60)
"""A claim whose request has not answered after this long (its process died) may be taken over."""
EXPIRED_BATCH = 100
MAX_BODY_BYTES = 1024 * 1024
_KEY = re.compile(KEY_PATTERN)
_JSON = [(b"content-type", b"application/json")]


class IdempotencyConflictError(HTTPException):
    """The first request with this key is still running."""

    status_code = HTTP_409_CONFLICT
    detail = "A request with this Idempotency-Key is still being processed; retry after it has been answered"


class IdempotencyMismatchError(HTTPException):
    """The key was used for another request."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY
    detail = "This Idempotency-Key was used for a different request; use a new key for a new request"


IDEMPOTENCY_ERRORS: list[type[HTTPException]] = [IdempotencyConflictError, IdempotencyMismatchError]
"""``raises=`` of a POST that takes an ``Idempotency-Key``."""


@dataclass(frozen=True, slots=True)
class Replay:
    """The answer a key already got."""

    status_code: int
    body: bytes
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """The key is this request's: run it, then ``remember`` or ``forget`` the answer."""

    id: int


async def claim(owner: str, key: str, fingerprint: str, lifetime: timedelta) -> Claimed | Replay:
    """Claim ``key`` for this request, or the answer it already got. IdempotencyMismatchError for another request,
    IdempotencyConflictError while the first is running."""
    at = now()
    row, created = await IdempotencyKey.get_or_create(
        owner=owner,
        key=key,
        defaults={"fingerprint": fingerprint, "created_at": at, "expires_at": at + lifetime},
    )
    if created:
        await _delete_expired()
        return Claimed(row.id)
    if row.expires_at <= at or (row.status_code is None and row.created_at <= at - STALE_CLAIM):
        # an expired key, or the claim of a request that never answered: taken over in one conditional update
        taken = await IdempotencyKey.filter(id=row.id, created_at=row.created_at).update(
            fingerprint=fingerprint, status_code=None, body=None, created_at=at, expires_at=at + lifetime
        )
        if taken:
            return Claimed(row.id)
        return await claim(owner, key, fingerprint, lifetime)
    if not hmac.compare_digest(row.fingerprint, fingerprint):
        raise IdempotencyMismatchError()
    if row.status_code is None or row.body is None:
        raise IdempotencyConflictError()
    return Replay(row.status_code, row.body.encode(), row.etag)


async def remember(claimed: Claimed, status_code: int, body: bytes, etag: str | None = None) -> None:
    """Keep the answer of the claimed request (its ETag too: a replay carries the tag the first answer carried)."""
    await IdempotencyKey.filter(id=claimed.id).update(status_code=status_code, body=body.decode(), etag=etag)


async def forget(claimed: Claimed) -> None:
    """Free the key of a request that did not succeed (or never answered)."""
    await IdempotencyKey.filter(id=claimed.id, status_code__isnull=True).delete()


async def _delete_expired() -> None:
    expired = IdempotencyKey.filter(expires_at__lt=now()).limit(EXPIRED_BATCH).values("id")
    await IdempotencyKey.filter(id__in=Subquery(expired)).delete()


def fingerprint(secret: str, method: str, path: str, body: bytes) -> str:
    """What identifies a request without storing it: HMAC-SHA256 of method, path and body under ``secret``."""
    message = b"\n".join((method.encode(), path.encode(), body))
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _owner(scope: Scope, secret: str) -> str | None:
    """``user:<id>`` for a signed token, ``anonymous`` without one, None for a bad one (the handler answers 401)."""
    authorization = request_header(scope, b"authorization")
    if authorization is None:
        return "anonymous"
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        return f"user:{read_token(token.strip(), secret).user_id}"
    except InvalidTokenError:
        return None


async def _send_json(send: Send, status: int, content: Any, extra_headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status, "headers": [*_JSON, *extra_headers]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_error(send: Send, error: HTTPException, extra: list[dict[str, str]] | None = None) -> None:
    content: dict[str, Any] = {"status_code": error.status_code, "detail": error.detail}
    if extra is not None:
        content["extra"] = extra
    await _send_json(send, error.status_code, content, [])


async def _read_body(receive: Receive) -> tuple[list[ReceiveMessage], bytes, bool]:
    """The request's messages (to hand on), its body, and whether it fit in MAX_BODY_BYTES."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, b"", False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > MAX_BODY_BYTES:
            return messages, b"", False
        if not message.get("more_body", False):
            return messages, b"".join(chunks), True


def idempotent_posts(secret: str, lifetime: timedelta) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware factory: ``Idempotency-Key`` on the POST handlers marked ``IDEMPOTENT``."""

    def middleware_factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
                await app(scope, receive, send)
                return
            handler = scope.get("route_handler")
            key = request_header(scope, b"idempotency-key")
            if key is None or handler is None or not handler.opt.get(IDEMPOTENT):
                await app(scope, receive, send)
                return
            if not _KEY.match(key):
                error = HTTPException(status_code=400, detail="Validation failed for POST " + scope["path"])
                message = "must be 1 to 255 printable ASCII characters, without spaces at either end"
                await _send_error(send, error, [{"key": HEADER, "message": message}])
                return
            owner = _owner(scope, secret)
            messages, body, complete = await _read_body(receive)
            replayed = iter(messages)

            async def replay_receive() -> ReceiveMessage:
                return next(replayed, None) or await receive()

            if owner is None or not complete:  # a bad token (401) or a body too large (413): nothing to keep
                await app(scope, replay_receive, send)
                return
            try:
                outcome = await claim(owner, key, fingerprint(secret, "POST", scope["path"], body), lifetime)
            except (IdempotencyConflictError, IdempotencyMismatchError) as error:
                await _send_error(send, error)
                return
            if isinstance(outcome, Replay):
                await _send_replay(send, outcome)
                return
            await _run_claimed(app, scope, replay_receive, send, outcome)

        return middleware

    return middleware_factory


async def _send_replay(send: Send, replay: Replay) -> None:
    etag = replay.etag if replay.etag is not None else entity_tag(replay.body)  # a key kept before migration 8
    headers = [*_JSON, (b"etag", etag.encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": replay.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": replay.body, "more_body": False})


async def _run_claimed(app: ASGIApp, scope: Scope, receive: Receive, send: Send, claimed: Claimed) -> None:
    """Run the request; keep a success's answer before sending it, free the key otherwise."""
    held: list[HTTPResponseStartEvent] = []
    chunks: list[bytes] = []
    kept = False

    async def keeping_send(message: Message) -> None:
        nonlocal kept
        if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
            held.append(message)
            return
        if message["type"] != "http.response.body" or not held:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        etag = next((value.decode("latin-1") for name, value in held[0]["headers"] if name == b"etag"), None)
        await remember(claimed, held[0]["status"], body, etag)
        kept = True
        await send(held[0])
        await send({"type": "http.response.body", "body": body, "more_body": False})

    try:
        await app(scope, receive, keeping_send)
    finally:
        if not kept:
            await forget(claimed)
