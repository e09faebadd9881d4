"""Same request, same answer: the baseline's status codes and JSON bodies must equal the service's.

One field is left out of the comparison: a page's ``next_cursor`` (the baseline pages by offset only; the service's
cursor is an HMAC of the page's last row, and reading one row more than the page to know whether another follows).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx

# Fields of a freshly created user that necessarily differ between two sign-ups.
_PER_SIGNUP = ("id", "email", "created_at", "updated_at")


def read_paths(users: int, posts: int, seed: int = 7) -> list[str]:
    """GET requests covering the benchmarked endpoints: first, last, random and missing ids, pages past the end."""
    rng = random.Random(seed)
    user_ids = sorted({1, 2, users, *rng.sample(range(1, users + 1), min(users, 6))})
    post_ids = sorted({1, posts, *rng.sample(range(1, posts + 1), min(posts, 6))})
    return [
        *(f"/users/{user_id}" for user_id in user_ids),
        f"/users/{users + 1000}",
        "/users/0",
        "/users?role=member",
        "/users?role=admin&limit=5",
        "/users?role=member&limit=7&offset=3",
        f"/users?role=member&offset={users + 5}",
        "/users",
        "/posts?limit=20",
        "/posts?limit=5&offset=11",
        f"/posts?offset={posts + 5}",
        *(f"/posts/{post_id}" for post_id in post_ids),
        f"/posts/{posts + 1000}",
    ]


def _describe(path: str, service: httpx.Response, baseline: httpx.Response) -> str | None:
    if service.status_code != baseline.status_code:
        return f"{path}: status {service.status_code} (service) != {baseline.status_code} (baseline)"
    if _without_cursor(service.json()) != baseline.json():
        return f"{path}: JSON differs\n  service:  {service.text[:600]}\n  baseline: {baseline.text[:600]}"
    return None


async def compare(service_url: str, baseline_url: str, users: int, posts: int) -> tuple[int, list[str]]:
    """Send each check to both servers; return how many checks ran and the differences found."""
    problems: list[str] = []
    checks = 0
    async with (
        httpx.AsyncClient(base_url=service_url, timeout=30) as service,
        httpx.AsyncClient(base_url=baseline_url, timeout=30) as baseline,
    ):
        for path in read_paths(users, posts):
            checks += 1
            problem = _describe(path, await service.get(path), await baseline.get(path))
            if problem:
                problems.append(problem)
        tag = uuid.uuid4().hex[:8]
        answers = []
        for name, client in (("service", service), ("baseline", baseline)):
            body = {"name": "  Parity Check ", "email": f"Bench-Parity-{tag}-{name}@Example.com", "password": "x" * 12}
            created = await client.post("/users", json=body)
            again = await client.post("/users", json=body)
            answers.append((created, again))
        checks += 2
        (service_created, service_again), (baseline_created, baseline_again) = answers
        problem = _describe("POST /users (duplicate email)", service_again, baseline_again)
        if problem:
            problems.append(problem)
        if service_created.status_code != baseline_created.status_code:
            problems.append(
                f"POST /users: status {service_created.status_code} (service) != {baseline_created.status_code}"
            )
        elif _normalised(service_created.json()) != _normalised(baseline_created.json()):
            problems.append(
                f"POST /users: JSON differs beyond {', '.join(_PER_SIGNUP)}\n"
                f"  service:  {service_created.text[:600]}\n  baseline: {baseline_created.text[:600]}"
            )
    return checks, problems


def _without_cursor(answer: Any) -> Any:
    if isinstance(answer, dict) and "next_cursor" in answer:
        return {key: value for key, value in answer.items() if key != "next_cursor"}
    return answer


def _normalised(user: Any) -> Any:
    if not isinstance(user, dict):
        return user
    shape = {key: value for key, value in user.items() if key not in _PER_SIGNUP}
    shape["keys"] = list(user)
    local = str(user.get("email", "")).split("@")[0]
    shape["email_lower_case"] = user.get("email") == str(user.get("email", "")).lower() and bool(local)
    return shape
