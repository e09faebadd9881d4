"""``telemetry_plugins(settings)``: what the app adds to be seen from outside: metrics (``METRICS``), absent from
the app when off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin, PluginProtocol

from service.metrics import RequestRecorder, metrics_controller, sampling
from service.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar


class Telemetry(InitPlugin):
    """Adds the metrics handler and sampler (and holds the request recorder the request log middleware calls)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.record_request = RequestRecorder(settings.metrics_path) if settings.metrics else None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if self.settings.metrics:
            app_config.route_handlers = [*app_config.route_handlers, metrics_controller(self.settings)]
            app_config.lifespan = [*app_config.lifespan, self.sample_metrics]
        return app_config

    @asynccontextmanager
    async def sample_metrics(self, _: Litestar) -> AsyncIterator[None]:
        async with sampling():
            yield


def telemetry_plugins(settings: Settings) -> list[PluginProtocol]:
    """The plugins for ``settings``."""
    return [Telemetry(settings)]


def request_recorder(app: Litestar) -> RequestRecorder | None:
    """The request recorder of ``app``'s telemetry; None with metrics off."""
    try:
        telemetry = app.plugins.get(Telemetry)
    except KeyError:
        return None
    return telemetry.record_request
