"""The parts of one backend instance, shared by its routes and Socket.IO handlers."""

from __future__ import annotations

from dataclasses import dataclass

import socketio
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from mock_backend.hub import Hub
from mock_backend.metrics import Metrics
from mock_backend.settings import Settings
from mock_backend.store import Event, replay
from mock_backend.writer import Writer


@dataclass
class Backend:
    settings: Settings
    engine: AsyncEngine
    metrics: Metrics
    sio: socketio.AsyncServer
    hub: Hub
    writer: Writer

    async def replay(self, user: str, after: int) -> list[Event]:
        async with self.engine.connect() as conn:
            return await replay(conn, user, after)


def backend_of(connection: HTTPConnection) -> Backend:
    backend: Backend = connection.app.state.backend
    return backend
