"""A plain WebSocket with the `websockets` package: JSON frames `{"event": …, "data": {…}}`."""

from __future__ import annotations

import contextlib
import json
import time
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from wasim.errors import AuthError, ProtocolError
from wasim.transports._push import PushListener
from wasim.transports._target import refused, unreachable
from wasim.transports.config import ListenerConfig


class OverWebSocket(PushListener):
    """A push listener on one `websockets` connection, which `_drop` closes."""

    def __init__(self, config: ListenerConfig) -> None:
        super().__init__(config)
        self._ws: ClientConnection | None = None

    async def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


class WebSocketListener(OverWebSocket):
    """The token goes in `?token=` (or a Bearer header); `?last_event_id=` resumes."""

    transport = "ws"

    async def _open(self) -> None:
        config = self.config
        url = config.ws_url(config.ws_path)
        params: dict[str, str] = {}
        headers: dict[str, str] = {}
        if config.token_in == "header":
            headers.update(config.headers())
        elif config.token:
            params["token"] = config.token
        if (last := self.resume_from()) is not None:
            params["last_event_id"] = str(last)
        full = f"{url}?{urlencode(params)}" if params else url
        self.stats.requests += 1  # the upgrade request, whether or not it succeeds
        try:
            self._ws = await connect(
                full,
                additional_headers=headers,
                open_timeout=config.connect_timeout,
                compression=None,
                max_queue=64,
            )
        except InvalidStatus as exc:
            response = exc.response
            body = response.body.decode(errors="replace") if response.body else ""
            if response.status_code == 403 and await self._refuses_any_path(url, headers):
                # Starlette and others answer 403 to an upgrade at a path with no route too.
                raise AuthError(
                    f"{url} refused the WebSocket (HTTP 403): a bad token, or no WebSocket "
                    "there (this server answers 403 at a path that does not exist too)"
                ) from None
            raise refused(url, response.status_code, body, "bad token", "WebSocket") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise unreachable(url, exc) from None

    async def _refuses_any_path(self, url: str, headers: dict[str, str]) -> bool:
        """Whether an upgrade at a path that surely does not exist is refused with 403 too."""
        nowhere = url.rstrip("/") + "-wasim-no-such-path"
        try:
            async with connect(nowhere, additional_headers=headers, open_timeout=5):
                return False
        except InvalidStatus as exc:
            return exc.response.status_code == 403
        except (OSError, TimeoutError, InvalidHandshake):
            return False

    async def _pump(self) -> None:
        assert self._ws is not None
        async for frame in self._ws:
            received_at = time.time()
            self.stats.bytes_received += len(frame.encode() if isinstance(frame, str) else frame)
            try:
                message = json.loads(frame)
                event, data = message["event"], message.get("data")
            except (ValueError, KeyError, TypeError):
                raise ProtocolError(f"a WebSocket frame is not an event: {frame[:80]!r}") from None
            self._deliver(str(event), data, received_at)
