"""The parts of one backend instance, shared by its routes and Socket.IO handlers."""

from __future__ import annotations

from dataclasses import dataclass

import socketio
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from mock_backend.hub import Hub
from mock_backend.limits import Gate
from mock_backend.metrics import Metrics
from mock_backend.settings import Settings
from mock_backend.store import JSON, Event, last_event_id, replay
from mock_backend.writer import Writer


@dataclass
class Backend:
    settings: Settings
    engine: AsyncEngine
    metrics: Metrics
    sio: socketio.AsyncServer
    hub: Hub
    writer: Writer
    gate: Gate

    async def replay(self, user: str, after: int) -> list[Event]:
        async with self.engine.connect() as conn:
            return await replay(conn, user, after)

    async def resume_point(self, user: str, asked: int | str) -> tuple[int, JSON | None]:
        """Where to resume `user` after `asked`, and the `reset` event's data to send first
        when the log has no such id (a future one, or a database reset since: reload)."""
        async with self.engine.connect() as conn:
            head = await last_event_id(conn, user)
        if isinstance(asked, int) and asked <= head:
            return asked, None
        reason = f"last_event_id {asked} is not in the log (the latest is {head}); reload"
        return head, {"last_event_id": head, "reason": reason}


def backend_of(connection: HTTPConnection) -> Backend:
    backend: Backend = connection.app.state.backend
    return backend
