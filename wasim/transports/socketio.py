"""Socket.IO with the python-socketio client (aiohttp underneath): the faithful implementation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import engineio
import socketio

from wasim.errors import AuthError
from wasim.transports._push import PushListener
from wasim.transports._target import diagnose
from wasim.transports.base import TransportStats
from wasim.transports.config import ListenerConfig


class _CountingEngineIO(engineio.AsyncClient):  # type: ignore[misc]
    """Engine.IO that counts its real traffic: each HTTP request (long-polling) and WebSocket
    upgrade it makes, connect attempts included, and the encoded size of each packet received."""

    stats: TransportStats | None = None

    async def _connect_websocket(self, *args: Any, **kwargs: Any) -> Any:
        if self.stats is not None:
            self.stats.requests += 1
        return await super()._connect_websocket(*args, **kwargs)

    async def _send_request(self, *args: Any, **kwargs: Any) -> Any:
        if self.stats is not None:
            self.stats.requests += 1
        return await super()._send_request(*args, **kwargs)

    async def _receive_packet(self, pkt: Any) -> None:
        if self.stats is not None:
            encoded = pkt.encode()
            self.stats.bytes_received += len(
                encoded.encode() if isinstance(encoded, str) else encoded
            )
        await super()._receive_packet(pkt)


class _CountingClient(socketio.AsyncClient):  # type: ignore[misc]
    def __init__(self, stats: TransportStats, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eio.stats = stats

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return _CountingEngineIO


class SocketIOListener(PushListener):
    """Connects with the token in `auth`, subscribes to the configured events."""

    transport = "socketio"

    def __init__(self, config: ListenerConfig) -> None:
        super().__init__(config)
        self._client: socketio.AsyncClient | None = None
        self._gone = asyncio.Event()
        self._refusal: Any = None

    def _new_client(self) -> socketio.AsyncClient:
        ns = self.config.namespace
        client = _CountingClient(
            self.stats,
            reconnection=False,
            handle_sigint=False,
            request_timeout=self.config.connect_timeout,
        )

        async def on_event(event: str, data: Any = None, *_: Any) -> None:
            self._deliver(event, data, time.time())

        async def on_connect_error(data: Any = None) -> None:
            self._refusal = data

        async def on_disconnect(*_: Any) -> None:
            if client is self._client:  # a dropped client's late goodbye must not end the next
                self._gone.set()

        client.on("*", on_event, namespace=ns)
        client.on("connect_error", on_connect_error, namespace=ns)
        client.on("disconnect", on_disconnect, namespace=ns)
        return client

    async def _open(self) -> None:
        self._gone.clear()
        self._refusal = None
        self._client = client = self._new_client()
        url = self.config.base_url
        try:
            await client.connect(
                url,
                auth=self.auth(),
                transports=list(self.config.socketio_transports),
                namespaces=[self.config.namespace],
                socketio_path=self.config.socketio_path,
                wait_timeout=self.config.connect_timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            if isinstance(self._refusal, dict) and "message" in self._refusal:
                raise AuthError(
                    f"{url} refused the Socket.IO connection: {self._refusal['message']}"
                ) from None
            if "namespace" in str(exc):
                raise AuthError(f"{url} refused the Socket.IO connection: {exc}") from None
            probe = self.config.url(self.config.socketio_path) + "/?EIO=4&transport=polling"
            raise await diagnose(probe, self.config.connect_timeout, "Socket.IO") from None

    async def _pump(self) -> None:
        await self._gone.wait()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
