"""Liveness and database reachability, for load balancers and operators."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from pydantic import BaseModel, Field

from service.auth.dependencies import AppSettings
from service.conditional import NO_VALIDATORS
from service.db import ping
from service.db.replicas import ReplicaStatus, replica_states
from service.errors import database_unavailable
from service.health.draining import is_draining


class ReplicaHealth(BaseModel):
    """A read replica as this process last checked it; reads skip it unless its status is ``ok``."""

    name: str
    status: ReplicaStatus
    lag_seconds: float | None = Field(description="At most this far behind the primary; null when unknown")


class Health(BaseModel):
    """Whether the service can answer requests that need the database (the primary), and its read replicas."""

    status: Literal["ok", "degraded", "draining"]
    database: Literal["ok", "unavailable"]
    replicas: list[ReplicaHealth] | None = Field(
        default=None,
        exclude_if=lambda replicas: replicas is None,
        description="Only when DATABASE_REPLICA_URLS names replicas",
    )


def _replicas() -> list[ReplicaHealth] | None:
    states = replica_states()
    if states is None:
        return None
    return [ReplicaHealth(name=s.name, status=s.status, lag_seconds=s.lag_seconds) for s in states]


class HealthController(Controller):
    """No token needed."""

    path = "/health"
    tags = ["operations"]
    opt = {NO_VALIDATORS: True}  # a state, not a representation: no ETag, never a 304

    @get(
        "/",
        summary="Health",
        responses={503: ResponseSpec(Health, description="The database cannot be reached, or the process is stopping")},
    )
    async def get_health(self, settings: AppSettings) -> Response[Health]:
        """200 when the primary answers ``SELECT 1`` in time, 503 with ``"database": "unavailable"`` otherwise.

        With read replicas, ``replicas`` lists each one as this process last checked it: a replica that is down or
        lagging is skipped by reads and does not make the service unhealthy. A process that is stopping answers 503
        with ``"status": "draining"`` for ``SHUTDOWN_DRAIN_SECONDS`` while it still serves every other request, so
        a load balancer stops sending it requests before it closes its connections.
        """
        if is_draining():
            return Response(
                Health(status="draining", database="ok", replicas=_replicas()),
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
            )
        try:
            await ping(min(settings.pool.connect_timeout, settings.pool.acquire_timeout))
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return Response(
                Health(status="degraded", database="unavailable", replicas=_replicas()),
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(Health(status="ok", database="ok", replicas=_replicas()), status_code=HTTP_200_OK)
