"""The Socket.IO fan-out writes ready frames, encoded once per room, to idle WebSockets
(mock_backend/frames.py) and relies on python-engineio/python-socketio/uvicorn internals: these
tests fail loudly when those change, rather than the backend silently falling back to the slow
path (or reordering)."""

from __future__ import annotations

import inspect
from typing import Any

import engineio
import pytest
import samples
from engineio import async_socket
from engineio.async_drivers import asgi as eio_asgi
from socketio import base_manager
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from mock_backend import Settings, create_app, frames
from mock_backend.sio import make_server
from tests.helpers import wait_for
from tests.test_backend_push import PHONE, Got, post, sio_listen
from wasim.connections import ws_protocol
from wasim.server import ServerThread


def test_engineio_socket_reads_its_queue_with_get_and_sends_before_reading_again() -> None:
    # `Outbox.idle()` is only sound if the writer takes packets with `queue.get()` (then
    # `get_nowait()`) and sends each one before it polls again.
    poll = inspect.getsource(async_socket.AsyncSocket.poll)
    assert "self.queue.get()" in poll
    handler = inspect.getsource(async_socket.AsyncSocket._websocket_handler)
    assert "packets = await self.poll()" in handler
    assert "await ws.send(pkt.encode())" in handler


def test_engineio_builds_websockets_from_its_drivers_dict_with_the_socket_handler() -> None:
    upgrade = " ".join(inspect.getsource(async_socket.AsyncSocket._upgrade_websocket).split())
    assert "self.server._async['websocket']( self._websocket_handler, self.server)" in upgrade
    assert list(inspect.signature(eio_asgi.WebSocket.__init__).parameters) == [
        "self", "handler", "server"
    ]  # fmt: skip
    assert list(inspect.signature(eio_asgi.WebSocket.__call__).parameters) == ["self", "environ"]


def test_a_backend_server_taps_its_own_drivers_only() -> None:
    server = make_server(Settings())
    assert server.eio._async["websocket"] is frames.TappedWebSocket
    assert engineio.AsyncServer(async_mode="asgi")._async["websocket"] is eio_asgi.WebSocket


def test_engineio_socket_has_the_attributes_the_fan_out_reads() -> None:
    server = make_server(Settings())
    socket = async_socket.AsyncSocket(server.eio, "sid")
    assert isinstance(socket.queue, frames.Outbox)
    assert socket.upgraded is False and socket.closed is False
    assert isinstance(server.eio.sockets, dict)
    participants = inspect.signature(base_manager.BaseManager.get_participants).parameters
    assert list(participants) == ["self", "namespace", "room"]


def test_uvicorn_websocket_protocol_has_the_state_write_frame_checks() -> None:
    source = inspect.getsource(WebSocketsSansIOProtocol)
    for name in ("handshake_complete", "close_sent", "disconnected", "writable", "conn"):
        assert f"self.{name} = " in source, name
    assert issubclass(ws_protocol(), WebSocketsSansIOProtocol)
    # The handshake's request and response are dropped once accepted (to save memory): uvicorn
    # must not read them after `handle_connect` and after `start_keepalive` respectively.
    send = " ".join(inspect.getsource(WebSocketsSansIOProtocol.send).split())
    assert (
        "self.conn.send_response(self.response) output = self.conn.data_to_send() "
        'self.transport.write(b"".join(output)) self.start_keepalive()' in send
    )
    assert source.count("self.request") == 1  # the assignment in handle_connect
    assert source.count("self.response") == 6


async def test_room_events_reach_a_websocket_client_as_ready_frames(
    settings: Settings, token_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[bytes] = []
    write_frame = ws_protocol().write_frame  # type: ignore[attr-defined]

    def counted(self: Any, frame: bytes) -> bool:
        ok: bool = write_frame(self, frame)
        if ok:
            written.append(frame)
        return ok

    monkeypatch.setattr(ws_protocol(), "write_frame", counted)
    with ServerThread(create_app(settings)) as server:
        got: Got = []
        client = await sio_listen(server.url, token_for("demo"), got)
        try:
            await post(server.url, samples.envelope([samples.text_message(PHONE, "direct")]))
            await wait_for(lambda: len(got) == 2)
        finally:
            await client.disconnect()
    assert [name for name, _ in got] == ["new_message", "conversation_updated"]
    assert len(written) == 1  # both events' frames in one write
    assert written[0].index(b'42["new_message",') < written[0].index(b'42["conversation_updated",')
