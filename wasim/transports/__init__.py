"""Client transports behind one interface: Socket.IO, SSE, WebSocket and polling listeners."""

from wasim.transports.base import Item, Listener, Received, StateChange, TransportStats
from wasim.transports.config import ListenerConfig, PollConfig
from wasim.transports.factory import KINDS, PUSH_KINDS, make_listener

__all__ = [
    "KINDS",
    "PUSH_KINDS",
    "Item",
    "Listener",
    "ListenerConfig",
    "PollConfig",
    "Received",
    "StateChange",
    "TransportStats",
    "make_listener",
]
