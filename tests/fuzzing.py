"""Helpers for tests/test_fuzz.py: the fuzzing budget, schemathesis' configuration, the document and an account."""

from __future__ import annotations

import itertools
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import httpx
import schemathesis

import service.app
from service.settings import Settings

DEFAULT_EXAMPLES = 15
"""Cases per operation in the fuzzing phase; the schema examples and the coverage phase (boundary values, wrong
types, missing fields, unexpected methods: about 700 cases in all, the same every run) come on top."""
DEFAULT_SEED = 20261125
"""A fixed seed, so that CI sends the same cases every run."""
REQUEST_TIMEOUT_SECONDS = 10
PASSWORD = "fuzzing is fun 123"

_accounts = itertools.count(1)


@dataclass(frozen=True)
class Budget:
    """How hard to fuzz: ``FUZZ_EXAMPLES`` cases per operation, ``FUZZ_SEED`` an integer or ``random``."""

    examples: int
    seed: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Budget:
        env = os.environ if env is None else env
        raw_examples = env.get("FUZZ_EXAMPLES", "").strip()
        examples = int(raw_examples) if raw_examples else DEFAULT_EXAMPLES
        if examples < 1:
            raise ValueError(f"FUZZ_EXAMPLES must be at least 1, got {examples}")
        raw_seed = env.get("FUZZ_SEED", "").strip().lower()
        seed = secrets.randbits(64) if raw_seed == "random" else int(raw_seed) if raw_seed else DEFAULT_SEED
        return cls(examples=examples, seed=seed)

    @property
    def rerun(self) -> str:
        return f"FUZZ_EXAMPLES={self.examples} FUZZ_SEED={self.seed} .venv/bin/pytest tests/test_fuzz.py"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document as the service serves it, built in-process at collection time (logging untouched)."""
    with mock.patch.object(service.app, "configure_logging"):
        application = service.app.create_app(Settings.from_env({"APP_ENV": "test"}))
    document: dict[str, Any] = json.loads(json.dumps(application.openapi_schema.to_schema()))
    return document


DOTTED_CAPITAL_I = "\u0130"
"""'İ': one code point, two once lower-cased ('i' and a combining dot above)."""
LONGER_WHEN_LOWER_CASED = [DOTTED_CAPITAL_I * 26, "a" * 49 + DOTTED_CAPITAL_I, DOTTED_CAPITAL_I * 50]
"""Tag names of 1..50 characters, as the document allows, that ``str.lower()`` would make longer than 50: the service
lower-cases a tag one character for one, so it must accept them (``positive_data_acceptance``)."""
LOWER_CASED_FIELDS = ("query.tag", "body.tags[*]", "body.posts[*].tags[*]")
"""Where the service lower-cases a string before storing or looking it up: tag names."""


def schemathesis_config(budget: Budget) -> schemathesis.Config:
    """The examples, coverage and fuzzing phases, positive and negative cases, no example database on disk.

    Besides what it derives from the document, schemathesis draws half the tag names it generates while fuzzing
    from ``LONGER_WHEN_LOWER_CASED``: valid strings that hypothesis would practically never come up with.
    """
    binding = {"dictionary": "longer-when-lower-cased", "probability": 0.5}
    return schemathesis.Config.from_dict(
        {
            "seed": budget.seed,
            "dictionaries": {"longer-when-lower-cased": {"values": LONGER_WHEN_LOWER_CASED}},
            "parameters": dict.fromkeys(LOWER_CASED_FIELDS, binding),
            # The cases carry no generated Authorization header: the test sends each one without a token and with
            # the account's, and ignored_auth still probes every token operation without one and with a bad one.
            "generation": {
                "max-examples": budget.examples,
                "mode": "all",
                "database": "none",
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},  # the document has no links; the test keeps its own state
            },
            # A valid If-Match that names no current version is refused with 412, and a reused Idempotency-Key with
            # another body with 422: answers about the resource's state, not about malformed data.
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]
                }
            },
            "request-timeout": REQUEST_TIMEOUT_SECONDS,
            "output": {"sanitization": {"enabled": False}},  # keep the tokens in the curl reproductions
        }
    )


@dataclass
class Account:
    """A member signed up through the API (with a profile and a tagged post), holding a token from /auth/token.

    Fuzzing with its token may delete it, change its password or delete its post: ``renew`` signs up a new member,
    ``new_post`` writes a new post.
    """

    base_url: str
    http: httpx.Client = field(init=False)
    user_id: int = field(init=False, default=0)
    post_id: int = field(init=False, default=0)
    token: str = field(init=False, default="")
    sent: set[str] = field(init=False, default_factory=set)
    """Requests already sent on the account's own resources, so identical ones are not sent again."""

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT_SECONDS)
        self.renew()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def renew(self) -> None:
        number = next(_accounts)
        email = f"fuzzer{number}@example.com"
        signup = self.http.post(
            "/users",
            json={
                "name": f"Fuzzer {number}",
                "email": email,
                "password": PASSWORD,
                "profile": {"bio": "Sends odd requests", "website": "https://example.com/fuzzer"},
                "posts": [{"title": "Seed post", "body": "Seed body", "tags": ["fuzz", "seed"]}],
            },
        )
        assert signup.status_code == 201, signup.text
        detail = signup.json()
        self.user_id = detail["id"]
        self.post_id = detail["posts"][0]["id"]
        login = self.http.post("/auth/token", data={"username": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.token = login.json()["access_token"]

    def new_post(self) -> None:
        created = self.http.post("/posts", headers=self.headers, json={"title": "Seed post", "tags": ["fuzz"]})
        assert created.status_code == 201, created.text
        self.post_id = created.json()["id"]

    def close(self) -> None:
        self.http.close()
