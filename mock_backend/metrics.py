"""Prometheus metrics, in a registry of the app's own (several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wasim.connections import timed_out


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "wasim_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "wasim_webhooks", "Webhook POSTs by outcome.", ["outcome"], registry=self.registry
        )
        self.webhook_updates = Counter(
            "wasim_webhook_updates",
            "Updates received, by webhook field (messages, statuses, calls, history …).",
            ["field"],
            registry=self.registry,
        )
        self.webhook_errors = Counter(
            "wasim_webhook_value_errors",
            "value.errors[] entries received.",
            registry=self.registry,
        )
        self.events = Counter(
            "wasim_events_emitted",
            "Push events emitted, by transport and event.",
            ["transport", "event"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "wasim_open_connections",
            "Open push connections by transport.",
            ["transport"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "wasim_push_dropped",
            "Push connections the server dropped, by transport and reason.",
            ["transport", "reason"],
            registry=self.registry,
        )
        self.refused = Counter(
            "wasim_push_refused",
            "Push connections refused, by transport and reason.",
            ["transport", "reason"],
            registry=self.registry,
        )
        self.queries = Counter(
            "wasim_database_queries", "SQL statements executed.", registry=self.registry
        )
        for transport in ("socketio", "sse", "websocket"):
            self.connections.labels(transport)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """Counts each HTTP request under its route template (`/conversations/{id}`, not the id);
    Engine.IO's long-polling requests under the Socket.IO path, one cut short by a deadline
    as the 408 it was answered."""

    def __init__(self, app: ASGIApp, metrics: Metrics, socketio_path: str) -> None:
        self.app = app
        self.metrics = metrics
        self.socketio_path = socketio_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except ClientDisconnect:
            status = 499  # the client left mid-body: no answer to give, nothing to log
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or (
                self.socketio_path if scope["path"].startswith(self.socketio_path) else "unmatched"
            )
            if timed_out(scope):
                status = 408
            self.metrics.requests.labels(label, scope["method"], str(status)).inc()
