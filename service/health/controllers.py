"""Liveness and database reachability, for load balancers and operators."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from pydantic import BaseModel

from service.auth.dependencies import AppSettings
from service.db import ping
from service.errors import database_unavailable


class Health(BaseModel):
    """Whether the service can answer requests that need the database."""

    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]


class HealthController(Controller):
    """No token needed."""

    path = "/health"
    tags = ["operations"]

    @get(
        "/",
        summary="Health",
        responses={503: ResponseSpec(Health, description="The database cannot be reached")},
    )
    async def get_health(self, settings: AppSettings) -> Response[Health]:
        """200 when the database answers ``SELECT 1`` in time, 503 with ``"database": "unavailable"`` otherwise."""
        try:
            await ping(min(settings.pool.connect_timeout, settings.pool.acquire_timeout))
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return Response(Health(status="degraded", database="unavailable"), status_code=HTTP_503_SERVICE_UNAVAILABLE)
        return Response(Health(status="ok", database="ok"), status_code=HTTP_200_OK)
