"""Traces on demand: with the standard OpenTelemetry variables set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, and the SDK's others: ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``, ...),
every request is a server span (continuing the caller's ``traceparent``) with a child span per SQL statement.

Litestar's OpenTelemetry plugin makes the server spans; OpenTelemetry's asyncpg instrumentation makes the statement
spans, with the statement text and never its parameters. Written here: the switch, the span named by route
template once the route is known, no statement spans for requests without a server span, and the trace id copied
to the request's log lines. Without those variables
nothing from the SDK is imported or created, and no request pays for tracing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar.types import ASGIApp, Receive, Scope, Send

from service.correlation import current_request

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.plugins.opentelemetry import OpenTelemetryPlugin
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SERVICE_NAME = "posts-api"


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """An OTLP endpoint is configured, and neither ``OTEL_SDK_DISABLED=true`` nor ``OTEL_TRACES_EXPORTER=none``."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def otlp_exporter() -> SpanExporter:
    """The OTLP/HTTP exporter, configured by the ``OTEL_EXPORTER_OTLP_*`` variables."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def tracer_provider(exporter: SpanExporter) -> TracerProvider:
    """A provider for this process: resource from ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES`` (service name
    ``posts-api`` by default), sampler from ``OTEL_TRACES_SAMPLER``, batches as ``OTEL_BSP_*`` say."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    defaults = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(defaults))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The server span's first name: the method alone (the raw path would make one name per URL); ``name_span``
    renames it after routing."""
    return str(scope.get("method", "HTTP")), {}


def _note_trace_id(span: Span, scope: Mapping[str, Any]) -> None:
    """The request's log lines carry the server span's trace id (the caller's, when its traceparent continued)."""
    context = current_request.get()
    if context is not None:
        context.trace_id = format(span.get_span_context().trace_id, "032x")


def route_span(app: ASGIApp) -> ASGIApp:
    """Route middleware: the server span is named ``METHOD /route/{template}`` with ``http.route`` set. A request
    without a recording span (a health check or scrape, which make none, or one the sampler left out) runs with
    instrumentation suppressed: its statements make no spans, orphaned or unsampled, and cost nothing to trace."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            with suppress_instrumentation():
                await app(scope, receive, send)
            return
        route = scope.get("path_template", "")
        span.update_name(f"{scope.get('method', '')} {route}")
        span.set_attribute("http.route", route)
        await app(scope, receive, send)

    return middleware


def tracing_plugin(provider: TracerProvider, untraced: list[str]) -> OpenTelemetryPlugin:
    """Litestar's plugin with ``provider``, plus asyncpg statement spans (instrumented process-wide); requests to
    the ``untraced`` paths (the balancer's health checks, the scrapes) make no spans."""
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    config = OpenTelemetryConfig(
        tracer_provider=provider,
        scope_span_details_extractor=_span_details,
        server_request_hook_handler=_note_trace_id,
        exclude=[f"^{path}$" for path in untraced],
        exclude_spans=["receive", "send"],
    )
    return OpenTelemetryPlugin(config)


def stop_tracing(provider: TracerProvider) -> None:
    """Export what is left, stop the provider and remove the asyncpg instrumentation."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    provider.shutdown()
    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]


def flushing(provider: TracerProvider) -> Callable[[Litestar], Any]:
    """A lifespan hook: at shutdown the spans still batched are exported."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stop_tracing(provider)

    return lifespan
