"""Server-Sent Events with httpx and httpx-sse; resumes with `Last-Event-ID` after a drop."""

from __future__ import annotations

import contextlib
import json
import time

import httpx
from httpx_sse import EventSource, aconnect_sse

from wasim.errors import ProtocolError
from wasim.transports._push import PushListener
from wasim.transports._target import refused, unreachable
from wasim.transports.config import ListenerConfig


class SSEListener(PushListener):
    """Reads the event stream; the token goes in `Authorization: Bearer` or `?token=`."""

    transport = "sse"

    def __init__(self, config: ListenerConfig, http: httpx.AsyncClient | None = None) -> None:
        super().__init__(config)
        self._shared = http
        self._http: httpx.AsyncClient | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._source: EventSource | None = None
        self._downloaded = 0

    def _client(self) -> httpx.AsyncClient:
        if self._shared is not None:
            return self._shared
        if self._http is None:
            timeout = httpx.Timeout(self.config.connect_timeout, read=self.config.read_timeout)
            self._http = httpx.AsyncClient(timeout=timeout)
        return self._http

    async def _open(self) -> None:
        config = self.config
        url = config.url(config.stream_path)
        headers: dict[str, str] = {"Accept": "text/event-stream"}
        params: dict[str, str] = {}
        if config.token_in == "query" and config.token:
            params["token"] = config.token
        else:
            headers.update(config.headers())
        if (last := self.resume_from()) is not None:
            headers["Last-Event-ID"] = str(last)
        self._stack = stack = contextlib.AsyncExitStack()
        self.stats.requests += 1  # the stream's GET, whether or not it is accepted
        self._downloaded = 0
        try:
            source = await stack.enter_async_context(
                aconnect_sse(self._client(), "GET", url, headers=headers, params=params)
            )
        except httpx.HTTPError as exc:
            raise unreachable(url, exc) from None
        response = source.response
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            raise refused(url, response.status_code, body, thing="event stream")
        if "text/event-stream" not in response.headers.get("content-type", ""):
            raise ProtocolError(f"{url} is not an event stream (wrong path?)")
        self._source = source

    async def _pump(self) -> None:
        assert self._source is not None
        async for sse in self._source.aiter_sse():
            received_at = time.time()
            self._count_bytes()
            if not sse.data:
                continue
            try:
                data = json.loads(sse.data)
            except ValueError:
                raise ProtocolError(f"an SSE frame is not JSON: {sse.data[:80]!r}") from None
            self._deliver(sse.event, data, received_at, sse.id or None)

    def _count_bytes(self) -> None:
        """Body bytes read off the stream so far (events, ids, heartbeats), as on the wire."""
        if self._source is not None:
            downloaded = self._source.response.num_bytes_downloaded
            self.stats.bytes_received += downloaded - self._downloaded
            self._downloaded = downloaded

    async def _drop(self) -> None:
        self._count_bytes()
        stack, self._stack, self._source = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()

    async def _release(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()
