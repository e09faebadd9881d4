"""``telemetry_plugins(settings)``: what the app adds to be seen from outside, metrics (``METRICS``) and traces (the
OpenTelemetry variables), each absent from the app when off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin, PluginProtocol

from service.health.controllers import HealthController
from service.metrics import RequestRecorder, metrics_controller, sampling
from service.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar
    from opentelemetry.sdk.trace import TracerProvider


class Telemetry(InitPlugin):
    """Adds the metrics handler and sampler (and holds the request recorder the request log middleware calls);
    when tracing, the span naming middleware and the export of the last spans at shutdown."""

    def __init__(self, settings: Settings, provider: TracerProvider | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.provider = provider
        self.record_request = RequestRecorder(settings.metrics_path) if settings.metrics else None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if self.settings.metrics:
            app_config.route_handlers = [*app_config.route_handlers, metrics_controller(self.settings)]
            app_config.lifespan = [*app_config.lifespan, self.sample_metrics]
        if self.provider is not None:
            from service.tracing import route_span

            app_config.middleware = [*app_config.middleware, route_span]
            app_config.lifespan = [self.untraced_background, *app_config.lifespan, self.stop_tracing]
        return app_config

    @asynccontextmanager
    async def sample_metrics(self, _: Litestar) -> AsyncIterator[None]:
        async with sampling():
            yield

    @asynccontextmanager
    async def untraced_background(self, _: Litestar) -> AsyncIterator[None]:
        """Entered first: what runs outside requests (the start-up check, and the replica monitor, which inherits
        this context) makes no statement spans: each would be a trace of its own, the monitor's every second."""
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        with suppress_instrumentation():
            yield

    @asynccontextmanager
    async def stop_tracing(self, _: Litestar) -> AsyncIterator[None]:
        from service.tracing import stop_tracing

        try:
            yield
        finally:
            if self.provider is not None:
                stop_tracing(self.provider)


def telemetry_plugins(settings: Settings) -> list[PluginProtocol]:
    """The plugins for ``settings``, with tracing when the OpenTelemetry variables ask for it."""
    from service.tracing import tracing_requested

    if not tracing_requested():
        return [Telemetry(settings)]
    from service.tracing import otlp_exporter, tracer_provider, tracing_plugin

    provider = tracer_provider(otlp_exporter())
    untraced = [HealthController.path, settings.metrics_path] if settings.metrics else [HealthController.path]
    return [Telemetry(settings, provider), tracing_plugin(provider, untraced)]


def request_recorder(app: Litestar) -> RequestRecorder | None:
    """The request recorder of ``app``'s telemetry; None with metrics off."""
    try:
        telemetry = app.plugins.get(Telemetry)
    except KeyError:
        return None
    return telemetry.record_request
