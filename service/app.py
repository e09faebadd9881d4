"""``create_app(settings)``: routes, the database lifespan, error handling and the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import swagger_ui
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send
from litestar.utils import ensure_async_callable

from service.auth.controllers import AuthController
from service.auth.dependencies import BEARER_SCHEME, provide_current_user, provide_optional_user
from service.conditional import (
    REQUIRE_IF_MATCH,
    NotModifiedError,
    conditional_requests,
    handle_not_modified,
    provide_if_match,
)
from service.db import database, resolve_database_url
from service.db.replicas import route_reads
from service.errors import EXCEPTION_HANDLERS, json_not_found
from service.health.controllers import HealthController
from service.idempotency import idempotent_posts
from service.media import require_declared_media_type
from service.observability import RequestLogMiddleware, configure_logging
from service.openapi import finish_document
from service.orm import use_fast_path
from service.params import check_parameters
from service.posts.controllers import PostController, UserPostController
from service.responses import SchemaResponse
from service.security import configure_hashing
from service.serving import tune_garbage_collector
from service.settings import Settings
from service.tags.controllers import TagController
from service.telemetry import request_recorder, telemetry_plugins
from service.users.controllers import UserController
from service.users.schemas import CLOSED_SCHEMAS

MAX_BODY_BYTES = 1024 * 1024
DOCS_ASSETS = "/docs/assets"
_SWAGGER_STATIC = Path(swagger_ui.__file__).parent / "static"


SWAGGER_UI = SwaggerRenderPlugin(
    path="/swagger",
    js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
    css_url=f"{DOCS_ASSETS}/swagger-ui.css",
    standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
    favicon=f'<link rel="icon" type="image/png" href="{DOCS_ASSETS}/favicon-32x32.png">',
)


@get("/docs", include_in_schema=False, media_type=MediaType.HTML, sync_to_thread=False)
def docs_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Swagger UI for the OpenAPI document, its scripts and styles served by this service (works offline)."""
    return Response(SWAGGER_UI.render(request, request.app.openapi_schema.to_schema()), media_type=MediaType.HTML)


def openapi_config() -> OpenAPIConfig:
    """The OpenAPI 3.1 document at ``/schema/openapi.json`` and Swagger UI at ``/docs``, served offline."""
    return OpenAPIConfig(
        title="Posts API",
        version="1.0.0",
        description=(
            "Users (with roles), their profiles, posts and tags. To call the endpoints that need a token (a lock "
            "marks them), get one from **POST /auth/token** (try it out here: your email as `username`, your "
            "password), then paste its `access_token` into **Authorize**."
        ),
        path="/schema",
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description=(
                        "The access_token that POST /auth/token returns (form fields: username = your email, "
                        "password), sent as 'Authorization: Bearer <token>'."
                    ),
                )
            }
        ),
        render_plugins=[SWAGGER_UI],
    )


async def check_request(request: Request[Any, Any, Any]) -> None:
    """``before_request``: the raw query and path parameters, then the body's media type (before Litestar reads
    either)."""
    check_parameters(request)
    await require_declared_media_type(request)


class ServiceApp(Litestar):
    """Litestar with the request log (request id, SQL count, duration), the security headers and HEAD around
    everything it answers (``service.edge``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._observed = RequestLogMiddleware(super().__call__, on_response=request_recorder(self))

    async def __call__(
        self, scope: Scope | LifeSpanScope, receive: Receive | LifeSpanReceive, send: Send | LifeSpanSend
    ) -> None:
        await self._observed(scope, receive, send)


def allow_every_method(app: Litestar) -> None:
    """Make each path's automatic ``OPTIONS`` answer list every method the path supports (in place).

    Litestar creates that handler with the first handlers registered for a path and keeps it, bound to that first
    route's methods, when more handlers join the path: ``OPTIONS /posts`` answered ``Allow: OPTIONS, POST``. Each
    one is pointed at its path's final route (``tests/test_openapi.py`` checks every path against the document).
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler = route.route_handler_map["OPTIONS"][0].fn
        if getattr(handler, "__name__", "") != "options_handler":
            continue
        for cell in getattr(handler, "__closure__", None) or ():
            if isinstance(cell.cell_contents, HTTPRoute):
                cell.cell_contents = route


def json_schema_not_found(app: Litestar) -> None:
    """Unknown paths under ``/schema`` answer the JSON 404 every other unknown path answers (in place).

    Litestar's OpenAPI router serves them an HTML page from a handler of its own; that handler alone gets an
    ``after_request`` hook turning the page into the contract's error body (no other request pays for the hook).
    """
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if getattr(handler.fn, "__name__", "") == "handle_schema_path_not_found":
                handler.after_request = ensure_async_callable(json_not_found)


def create_app(settings: Settings | None = None) -> ServiceApp:
    """The application for ``settings`` (read from the environment when not given)."""
    settings = settings or Settings.from_env()
    configure_logging(settings)
    configure_hashing(settings.hashing_threads, settings.password_hash_queue, settings.password_hash_sign_in_reserve)
    use_fast_path(settings.orm_fast_path)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        tune_garbage_collector()
        async with database(settings, resolve_database_url(settings)):
            yield

    docs_assets = create_static_files_router(
        path=DOCS_ASSETS, directories=[_SWAGGER_STATIC], include_in_schema=False, name="docs-assets"
    )
    config = AppConfig(
        route_handlers=[
            AuthController,
            UserController,
            UserPostController,
            PostController,
            TagController,
            HealthController,
            docs_assets,
            docs_page,
        ],
        lifespan=[lifespan],
        before_request=check_request,
        # Marks GET requests whose reads may go to a replica; without replicas no request pays for it.
        middleware=[
            idempotent_posts(settings.jwt_secret, timedelta(hours=settings.idempotency_key_hours)),
            conditional_requests,
            *([route_reads] if settings.replicas.urls else []),
        ],
        state=State({REQUIRE_IF_MATCH: settings.require_if_match}),
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "current_user": Provide(provide_current_user),
            "optional_user": Provide(provide_optional_user),
            "if_match": Provide(provide_if_match),
        },
        exception_handlers={**EXCEPTION_HANDLERS, NotModifiedError: handle_not_modified},
        plugins=telemetry_plugins(settings),  # metrics at METRICS_PATH; traces when OTEL_* variables ask for them
        openapi_config=openapi_config(),
        request_max_body_size=MAX_BODY_BYTES,
        response_class=SchemaResponse,
        debug=False,
    )
    app = ServiceApp.from_config(config)
    finish_document(app, closed=CLOSED_SCHEMAS)
    allow_every_method(app)
    json_schema_not_found(app)
    return app
