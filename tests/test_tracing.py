"""Traces on demand: with an OTLP endpoint configured every request is a server span, named by its route template
and continuing the caller's traceparent, with a child span per SQL statement (text only, never a value); without
one nothing of the SDK is loaded."""

from __future__ import annotations

import http.server
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import pytest
from litestar.plugins.opentelemetry import OpenTelemetryPlugin
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from service import tracing
from service.app import create_app
from service.db.client import track_queries
from service.observability import JsonFormatter
from service.settings import Settings
from tests.conftest import PASSWORD, MakeUser
from tests.serving import ROOT, serve

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Traced:
    def __init__(self, client: httpx.AsyncClient, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.client, self.exporter, self.provider = client, exporter, provider

    def spans(self) -> list[ReadableSpan]:
        self.provider.force_flush()
        return list(self.exporter.get_finished_spans())


@pytest.fixture
async def traced(app: Any, app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Traced]:
    """The app as the OpenTelemetry variables turn tracing on, its spans kept in the SDK's in-memory exporter."""
    exporter = InMemorySpanExporter()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setattr(tracing, "otlp_exporter", lambda: exporter)
    application = create_app(app_settings)
    provider = application.plugins.get(OpenTelemetryPlugin).config.tracer_provider
    assert isinstance(provider, TracerProvider)
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Traced(http, exporter, provider)
    finally:
        tracing.stop_tracing(provider)


def attribute_values(spans: list[ReadableSpan]) -> list[str]:
    return [str(value) for span in spans for value in (span.attributes or {}).values()]


async def test_a_request_is_a_server_span_continuing_the_callers_trace_with_a_span_per_statement(
    traced: Traced, make_user: MakeUser
) -> None:
    user = await make_user()
    traced.spans()
    traced.exporter.clear()  # the fixture's own insert was traced too
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    with track_queries() as statements:
        response = await traced.client.get(f"/users/{user.id}", headers=headers)
    assert response.status_code == 200
    spans = traced.spans()
    [server] = [span for span in spans if span.kind == SpanKind.SERVER]
    assert server.name == "GET /users/{user_id}"
    assert (server.attributes or {})["http.route"] == "/users/{user_id}"
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == PARENT_ID
    database = [span for span in spans if span.kind == SpanKind.CLIENT]
    assert len(database) == statements.count == 1
    [statement] = database
    assert statement.parent is not None
    assert statement.parent.span_id == server.context.span_id
    text = str((statement.attributes or {}).get("db.statement", ""))
    assert text.startswith("SELECT")
    assert '"users"."id"=$' in text
    assert not any(key.startswith("db.statement.parameters") for key in statement.attributes or {})
    assert str(user.id) not in [value.strip() for value in attribute_values(database)]


async def test_no_value_reaches_a_span_not_even_at_sign_in(traced: Traced, make_user: MakeUser) -> None:
    user = await make_user()
    traced.spans()
    traced.exporter.clear()  # the fixture's own insert was traced too
    for password in (PASSWORD, "a wrong password"):
        with track_queries() as statements:
            response = await traced.client.post("/auth/token", data={"username": user.email, "password": password})
        assert response.status_code in (200, 401)
        spans = traced.spans()
        traced.exporter.clear()
        database = [span for span in spans if span.kind == SpanKind.CLIENT]
        assert len(database) == statements.count > 2
        everything = " ".join(attribute_values(spans))
        for secret in (user.email, password, user.password_hash, user.email.split("@")[0]):
            assert secret not in everything


async def test_a_request_without_traceparent_starts_a_trace_and_its_log_lines_carry_it(traced: Traced) -> None:
    lines: list[dict[str, Any]] = []
    handler = logging.Handler()
    handler.setFormatter(JsonFormatter())
    handler.emit = lambda record: lines.append(json.loads(handler.format(record)))  # type: ignore[method-assign]
    access = logging.getLogger("service.access")
    level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        response = await traced.client.get("/tags")
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert response.status_code == 200
    [server] = [span for span in traced.spans() if span.kind == SpanKind.SERVER]
    assert server.parent is None
    assert server.name == "GET /tags"
    [line] = lines
    assert line["trace_id"] == format(server.context.trace_id, "032x")
    assert line["request_id"] == response.headers["x-request-id"]


async def test_health_checks_and_scrapes_make_no_spans_not_even_for_their_statements(traced: Traced) -> None:
    with track_queries() as statements:
        for path in ("/health", "/metrics"):
            assert (await traced.client.get(path)).status_code == 200
    assert statements.count >= 1  # the health check asked the database
    assert traced.spans() == []
    assert (await traced.client.get("/tags")).status_code == 200
    assert sorted(span.kind.name for span in traced.spans()) == ["CLIENT", "SERVER"]


async def test_a_request_the_sampler_leaves_out_makes_no_spans(traced: Traced, make_user: MakeUser) -> None:
    user = await make_user()
    traced.spans()
    traced.exporter.clear()
    unsampled = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"}  # the caller did not sample it: neither do we
    assert (await traced.client.get(f"/users/{user.id}", headers=unsampled)).status_code == 200
    assert traced.spans() == []


def test_without_the_variables_nothing_of_the_sdk_is_loaded() -> None:
    script = """
import json, sys
import asyncpg.connection
from service.app import create_app
from service.settings import Settings
app = create_app(Settings.from_env({"APP_ENV": "test"}))
print(json.dumps({
    "sdk": sorted(name for name in sys.modules if name.startswith("opentelemetry.sdk")),
    "wrapped": hasattr(asyncpg.connection.Connection.fetch, "__wrapped__"),
    "plugins": sorted(type(plugin).__name__ for plugin in app.plugins),
}))
"""

    def run(**env: str) -> dict[str, Any]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, check=True
        )
        loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return loaded

    off = run()
    assert off["sdk"] == []
    assert off["wrapped"] is False
    assert "OpenTelemetryPlugin" not in off["plugins"]
    on = run(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")  # the same check can see tracing when it is on
    assert "opentelemetry.sdk.trace" in on["sdk"]
    assert on["wrapped"] is True
    assert "OpenTelemetryPlugin" in on["plugins"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_SERVICE_NAME": "posts-api"}, False),
    ],
)
def test_tracing_is_on_exactly_when_an_endpoint_is_configured(env: dict[str, str], expected: bool) -> None:
    assert tracing.tracing_requested(env) is expected


class Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: every ``POST /v1/traces`` body, decoded."""

    received: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            Collector.received.append(ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_served_service_exports_its_spans_over_otlp_http(database_url: str) -> None:
    """The real path: ``python -m service serve`` configured by the standard variables alone, spans sent to a
    collector over OTLP/HTTP (protobuf) and decoded there."""
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    Collector.received.clear()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    try:
        variables = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "posts-api-test"}
        with serve(database_url, **variables, OTEL_BSP_SCHEDULE_DELAY="100") as served:
            headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
            assert httpx.get(f"{served.base_url}/tags", headers=headers).status_code == 200
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and "GET /tags" not in str(Collector.received):
                time.sleep(0.1)
    finally:
        collector.shutdown()
    spans = [
        (resource.resource, span)
        for request in Collector.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = sorted(span.name for _, span in spans)
    assert "GET /tags" in names, names
    assert any(name.startswith("SELECT") for name in names), names
    # nothing else: the start-up check ran outside any request and made no trace of its own
    assert [(span.name, span.trace_id.hex()) for _, span in spans if span.trace_id.hex() != TRACE_ID] == []
    service_names = {
        attribute.value.string_value
        for resource, _ in spans
        for attribute in resource.attributes
        if attribute.key == "service.name"
    }
    assert service_names == {"posts-api-test"}
