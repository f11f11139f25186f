"""What a listener needs to know about its target: URL, paths, event names, token, timeouts.

Every default is the bundled backend's (docs/contract.md); each can be changed for a backend with
other paths, event names or auth conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from wasim import defaults

TokenPlace = Literal["header", "query"]


@dataclass(frozen=True)
class PollConfig:
    """How a polling client behaves; the defaults are the seed's web client: the list from two
    places every 5 s, the open chat every 3 s, no ETag."""

    list_interval: float = 5.0
    list_pollers: int = 2
    detail_interval: float | None = 3.0
    conversation_id: str | int | None = None
    etag: bool = False
    hidden: bool = False
    baseline: bool = True
    fetch_changed: bool = False  # fetch each conversation whose list entry changed
    detail_limit: int = 50
    # Where things are in the backend's answers (wasim.transports.shapes); None: found by shape.
    list_field: str | None = None
    id_field: str = "id"
    detail_path: str | None = None
    messages_field: str | None = None

    # Share of a group's clients that are hidden tabs (which do not poll), for bench.
    hidden_share: float = 0.0

    @classmethod
    def optimized(cls) -> PollConfig:
        """The design's optimized polling: 10 s / 5 s, one list poller, ETag, 30% hidden."""
        return cls(
            list_interval=10.0, list_pollers=1, detail_interval=5.0, etag=True, hidden_share=0.3
        )

    def fallback(self, every: float) -> PollConfig:
        """The hybrid client's fallback: the list every `every` s, fetching what changed."""
        return replace(
            self,
            list_interval=every,
            list_pollers=1,
            detail_interval=None,
            etag=True,
            fetch_changed=True,
            hidden=False,
        )


@dataclass(frozen=True)
class ListenerConfig:
    """One listener: whose token, which target, and how to behave when the connection drops."""

    base_url: str = defaults.BASE_URL
    token: str | None = None
    user: str = defaults.DEFAULT_OWNER
    events: tuple[str, ...] = ()  # the events to keep; empty: every event
    resume: bool = True
    last_event_id: int | None = None
    reconnect: bool = True
    connect_timeout: float = 10.0
    read_timeout: float = 45.0
    backoff_initial: float = 0.05
    backoff_max: float = 5.0
    token_in: TokenPlace | None = None
    socketio_path: str = defaults.SOCKETIO_PATH
    namespace: str = "/"
    socketio_transports: tuple[str, ...] = ("websocket",)
    auth_field: str = "token"
    stream_path: str = defaults.STREAM_PATH
    ws_path: str = defaults.WS_PATH
    conversations_path: str = defaults.CONVERSATIONS_PATH
    poll: PollConfig = field(default_factory=PollConfig)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def ws_url(self, path: str) -> str:
        url = self.url(path)
        return "ws" + url[4:] if url.startswith("http") else url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def for_user(self, user: str, token: str | None) -> ListenerConfig:
        return replace(self, user=user, token=token)
