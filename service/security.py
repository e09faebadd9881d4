"""Password hashing (Argon2id, admitted by the process's HashingGate) and access tokens (JWT, HS256)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.hashing import HashingGate, Work

_hasher = PasswordHasher()  # Argon2id with the RFC 9106 low-memory parameters
TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret
_gate = HashingGate(threads=os.cpu_count() or 1, queue=32, reserved=16)


def configure_hashing(threads: int, queue: int, reserved: int) -> HashingGate:
    """Replace this process's hashing gate (the app does it once at start with the settings); return it."""
    global _gate
    _gate.close()
    _gate = HashingGate(threads, queue, reserved)
    return _gate


def hashing_gate() -> HashingGate:
    """This process's hashing gate."""
    return _gate


async def hash_password(password: str) -> str:
    """Argon2id hash of ``password`` on a hashing thread; HashingBusyError at once if there is no room."""
    return await _gate.run(Work.OTHER, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown account) it still spends the same time. Sign-ins are
    admitted before other hashing; HashingBusyError at once if even their share is full."""
    return await _gate.run(Work.SIGN_IN, _verify, password_hash or _dummy_hash(), password, password_hash is not None)


def _verify(password_hash: str, password: str, real: bool) -> bool:
    try:
        return _hasher.verify(password_hash, password) and real
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-password-anyone-has")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid access token says: whose it is and which password generation it belongs to."""

    user_id: int
    version: int


class InvalidTokenError(Exception):
    """The token is malformed, forged or expired."""


def issue_token(user_id: int, version: int, secret: str, ttl_seconds: int) -> str:
    """A signed access token for ``user_id`` that expires after ``ttl_seconds``."""
    now = int(time.time())
    claims = {"sub": str(user_id), "ver": version, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def read_token(token: str, secret: str) -> TokenClaims:
    """Verify the signature and expiry of ``token``; raise InvalidTokenError otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["sub", "exp", "iat", "ver"]}
        )
        return TokenClaims(user_id=int(claims["sub"]), version=int(claims["ver"]))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidTokenError(str(exc)) from None
