"""`make_listener(kind, config)`: one name per kind of client, for listen and bench alike."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, get_args

import httpx

from wasim.errors import ConfigError
from wasim.transports.base import Listener
from wasim.transports.config import ListenerConfig, PollConfig
from wasim.transports.poll import PollListener
from wasim.transports.socketio import SocketIOListener
from wasim.transports.socketio_lean import LeanSocketIOListener
from wasim.transports.sse import SSEListener
from wasim.transports.ws import WebSocketListener

Kind = Literal["socketio", "socketio-lean", "sse", "ws", "poll", "poll-optimized"]
KINDS: tuple[str, ...] = get_args(Kind)
PUSH_KINDS = ("socketio", "socketio-lean", "sse", "ws")


def make_listener(
    kind: str, config: ListenerConfig, http: httpx.AsyncClient | None = None
) -> Listener:
    """A listener of `kind` for `config.user`; `http` shares one client among HTTP listeners."""
    if kind == "socketio":
        return SocketIOListener(config)
    if kind == "socketio-lean":
        return LeanSocketIOListener(config)
    if kind == "sse":
        return SSEListener(config, http)
    if kind == "ws":
        return WebSocketListener(config)
    if kind == "poll":
        return PollListener(config, http)
    if kind == "poll-optimized":
        return PollListener(replace(config, poll=PollConfig.optimized()), http)
    raise ConfigError(f"unknown transport {kind!r}; choose one of {', '.join(KINDS)}")
