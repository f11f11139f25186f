"""`create_app(settings)`: the FastAPI routes and the Socket.IO server as one ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.types import ASGIApp

from mock_backend import api, inbox, origins, sio, streams, webhook
from mock_backend.db import Transactions, create_tables, make_engine
from mock_backend.fanout import RedisHub
from mock_backend.hub import Hub
from mock_backend.limits import Gate, Nosniff, PollingLimit, SendDeadline
from mock_backend.metrics import Metrics, RequestMetrics
from mock_backend.settings import Settings
from mock_backend.state import Backend, backend_of
from mock_backend.writer import Writer

PATHS = (
    "webhook_path", "conversations_path", "contacts_path", "stream_path", "ws_path", "socketio_path"
)  # fmt: skip


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The bundled backend; tables are created (and the writer started) on ASGI startup."""
    settings = settings or Settings.model_validate({})
    for name in PATHS:
        if not getattr(settings, name).startswith("/"):
            raise ValueError(f"{name} must start with '/'")
    metrics = Metrics()
    engine = make_engine(settings.database_url, metrics.queries.inc)
    server = sio.make_server(settings)
    # The inbox page at `/` opens Socket.IO from the backend's own origin.
    server.eio.cors_allowed_origins = lambda origin, environ: origins.allowed(
        origin, environ.get("HTTP_HOST"), environ.get("wsgi.url_scheme", "http"), settings
    )
    hub = (
        RedisHub(server, settings, metrics, engine, settings.redis_url)
        if settings.redis_url
        else Hub(server, settings, metrics)
    )
    transactions = Transactions(engine, metrics.queries.inc)
    writer = Writer(engine, hub, settings.default_owner, transactions)
    backend = Backend(settings, engine, metrics, server, hub, writer, Gate(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await create_tables(engine)
        await hub.start()
        backend.writer.start()
        try:
            yield
        finally:
            await backend.writer.stop()
            await hub.stop()
            await engine.dispose()

    # /docs with Swagger UI's files served from the fastapi-offline package, not a CDN.
    app = FastAPIOffline(title="wasim mock backend", version="0.1.0", lifespan=lifespan)
    app.state.backend = backend
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.origins,
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "If-None-Match", "Last-Event-ID"],
        expose_headers=["ETag"],
    )
    _routes(app, settings)
    inbox.install(app)
    sio.install_handlers(backend)
    asgi: ASGIApp = socketio.ASGIApp(server, app, socketio_path=settings.socketio_path)
    asgi = SendDeadline(PollingLimit(asgi, settings), settings, metrics)
    asgi = RequestMetrics(Nosniff(asgi), metrics, settings.socketio_path)
    return webhook.WebhookFastPath(asgi, backend)


def _routes(app: FastAPI, settings: Settings) -> None:
    add = app.add_api_route
    add(settings.webhook_path, webhook.verify_webhook, methods=["GET"], tags=["webhook"])
    add(settings.webhook_path, webhook.receive_webhook, methods=["POST"], tags=["webhook"])
    conversations = settings.conversations_path
    add(conversations, api.list_conversations, methods=["GET"], tags=["conversations"])
    add(conversations, api.open_conversation, methods=["POST"], tags=["conversations"])
    add(
        conversations + "/{conversation_id}",
        api.get_conversation,
        methods=["GET"],
        tags=["conversations"],
    )
    add(
        conversations + "/{conversation_id}/read",
        api.mark_read,
        methods=["POST"],
        tags=["conversations"],
    )
    add(settings.contacts_path + "/{phone}", api.get_contact, methods=["GET"], tags=["contacts"])
    add(settings.stream_path, streams.stream, methods=["GET"], tags=["push"])
    app.add_api_websocket_route(settings.ws_path, streams.websocket)
    add("/healthz", healthz, methods=["GET"], tags=["ops"])
    add("/metrics", metrics, methods=["GET"], tags=["ops"])


async def healthz(request: Request) -> JSONResponse:
    """Liveness, with a round trip to the database."""
    async with backend_of(request).engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(backend_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
