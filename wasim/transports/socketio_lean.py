"""A lean Socket.IO client over `websockets`, for holding thousands of listeners in one process.

It speaks just enough Engine.IO v4 / Socket.IO v5 in text frames: the server's open packet
`0{…}`, our connect `40{auth}`, the server's `40{…}` or refusal `44{"message": …}`, events
`42["name", {…}]`, and the heartbeat (the server pings `2`, we answer `3`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from wasim.errors import AuthError, ProtocolError, TargetError
from wasim.transports._target import refused, unreachable
from wasim.transports.config import ListenerConfig
from wasim.transports.ws import OverWebSocket


class LeanSocketIOListener(OverWebSocket):
    """Socket.IO over a bare WebSocket: same events and auth as `SocketIOListener`, less memory."""

    transport = "socketio"

    def __init__(self, config: ListenerConfig) -> None:
        super().__init__(config)
        self._silence = 60.0
        ns = config.namespace
        self._prefix = "" if ns in ("", "/") else f"{ns},"

    async def _open(self) -> None:
        config = self.config
        url = config.ws_url(config.socketio_path).rstrip("/") + "/"
        self.stats.requests += 1  # the upgrade request, whether or not it succeeds
        try:
            self._ws = ws = await connect(
                url + "?EIO=4&transport=websocket",
                open_timeout=config.connect_timeout,
                compression=None,
                ping_interval=None,
                max_queue=16,
            )
        except InvalidStatus as exc:
            raise refused(url, exc.response.status_code, "", "wrong path?", "Socket.IO") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise unreachable(url, exc) from None
        try:
            async with asyncio.timeout(config.connect_timeout):
                opening = await ws.recv()
                self.stats.bytes_received += _size(opening)
                if not isinstance(opening, str) or not opening.startswith("0"):
                    raise ProtocolError(f"{url} did not open an Engine.IO session")
                session = json.loads(opening[1:])
                self._silence = (session["pingInterval"] + session["pingTimeout"]) / 1000
                await ws.send(f"40{self._prefix}{json.dumps(self.auth())}")
                while True:
                    answer = await ws.recv()
                    self.stats.bytes_received += _size(answer)
                    if not isinstance(answer, str) or not answer:
                        continue
                    if answer.startswith("40"):
                        return
                    if answer.startswith("44"):
                        reason = _payload(answer[2:], self._prefix)
                        message = reason.get("message") if isinstance(reason, dict) else reason
                        raise AuthError(f"{url} refused the Socket.IO connection: {message}")
                    # A server that emits from its connect handler (a replay, say) sends those
                    # events before its CONNECT: keep them, as python-socketio and socket.io do.
                    await self._handle(ws, answer)
        except TimeoutError:
            raise TargetError(f"{url} did not complete the Socket.IO handshake") from None
        except (ValueError, KeyError, TypeError):
            raise ProtocolError(f"{url} sent a malformed Engine.IO open packet") from None
        except OSError as exc:
            raise unreachable(url, exc) from None

    async def _pump(self) -> None:
        ws = self._ws
        assert ws is not None
        while True:
            try:
                async with asyncio.timeout(self._silence):
                    frame = await ws.recv()
            except TimeoutError:
                raise TargetError("no Engine.IO heartbeat from the server") from None
            self.stats.bytes_received += _size(frame)
            if not isinstance(frame, str) or not frame:
                continue
            if frame.startswith("41") or frame[0] == "1":
                return
            await self._handle(ws, frame)

    async def _handle(self, ws: ClientConnection, frame: str) -> None:
        """Answer a ping or deliver an event; other packets mean nothing to a listener."""
        if frame[0] == "2":
            await ws.send("3")
        elif frame.startswith("42"):
            received_at = time.time()
            packet = _payload(frame[2:], self._prefix)
            if isinstance(packet, list) and packet and isinstance(packet[0], str):
                data = packet[1] if len(packet) > 1 else None
                self._deliver(packet[0], data, received_at)


def _size(frame: str | bytes) -> int:
    return len(frame.encode() if isinstance(frame, str) else frame)


def _payload(text: str, prefix: str) -> Any:
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    text = text.lstrip("0123456789")  # an ack id, which listeners never answer
    return json.loads(text) if text else None
