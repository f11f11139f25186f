"""A polling client like the seed's web app: the list from N places, the open chat, ETag optional.

It yields one `Received` (event "poll", data `{url, body}`) for each answer that differs from
the last one at its URL, and counts requests, bytes, 304s, ETags and errors in `stats`; what an
answer shows is matched to what was sent by the consumer (`wasim.correlate`). The answers at
connect (its baseline) are not reported. The list may be an array or an object holding one,
conversation ids integers or strings (`wasim.transports.shapes`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx

from wasim.errors import ProtocolError, WasimError
from wasim.tasks import cancel
from wasim.transports._target import refused, unreachable
from wasim.transports.base import Listener, Received, TransportStats
from wasim.transports.config import ListenerConfig
from wasim.transports.shapes import conversation_id, conversation_list, detail_url, message_list

Json = dict[str, Any]
_UNCHANGED = object()


class PollListener(Listener):
    """Polls `GET conversations` (and one conversation) on timers; reports new messages."""

    transport = "poll"

    def __init__(
        self, config: ListenerConfig, http: httpx.AsyncClient | None = None, autostart: bool = True
    ) -> None:
        super().__init__(config.user)
        self.config = config
        self.autostart = autostart
        self.poll = config.poll
        self.stats = TransportStats()
        self._shared = http
        self._http: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._etags: dict[str, str] = {}
        self._bodies: dict[str, int] = {}  # URL -> fingerprint of the last answer
        self._entries: dict[str | int, int] = {}  # conversation -> fingerprint of its entry
        self._open_id = self.poll.conversation_id
        self._failing = False
        self._closed = False

    async def connect(self) -> None:
        if self.poll.hidden:
            return
        if self.poll.baseline:
            try:
                await self._poll_list(first=True)
                if self._open_id is not None and self.poll.detail_interval:
                    await self._poll_detail(self._open_id, first=True)
            except BaseException:
                await self._release()
                raise
        self._state("connected")
        if self.autostart:
            self.start()

    def start(self) -> None:
        """Start the timers (again); `connect` does this after the baseline."""
        if self._tasks or self.poll.hidden or self._closed:
            return
        for _ in range(max(self.poll.list_pollers, 0)):
            self._tasks.append(asyncio.create_task(self._every(self.poll.list_interval, False)))
        if self.poll.detail_interval:
            self._tasks.append(asyncio.create_task(self._every(self.poll.detail_interval, True)))

    async def poll_once(self) -> None:
        """One list poll now, outside the timers (hybrid's catch-up when push is back)."""
        try:
            await self._poll_list()
        except WasimError as exc:
            self.stats.error(str(exc))

    async def stop(self) -> None:
        """Stop the timers; the listener stays usable and `start()` resumes polling."""
        tasks, self._tasks = self._tasks, []
        await cancel(*tasks)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stop()
        await self._release()
        self._state("closed")
        self._end()

    async def _release(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._shared is not None:
            return self._shared
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.config.connect_timeout)
        return self._http

    def _list_path(self) -> str:
        return self.config.url(self.config.conversations_path)

    def _detail_path(self, conversation_id: str | int) -> str:
        return detail_url(self._list_path(), self.poll.detail_path, conversation_id)

    async def _every(self, interval: float, detail: bool) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            started = time.monotonic()
            try:
                if not detail:
                    await self._poll_list()
                elif self._open_id is not None:
                    await self._poll_detail(self._open_id)
                if self._failing:
                    self._failing = False
                    self._state("connected")
            except WasimError as exc:
                self.stats.error(str(exc))
                if not self._failing:
                    self._failing = True
                    self._state("reconnecting", str(exc))
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0))

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """The parsed answer; `_UNCHANGED` for a 304 or the same bytes as last time."""
        headers = self.config.headers()
        if self.poll.etag and url in self._etags:
            headers["If-None-Match"] = self._etags[url]
        self.stats.requests += 1
        try:
            response = await self._client().get(url, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise unreachable(url, exc) from None
        self.stats.bytes_received += len(response.content)
        if response.status_code == 304:
            self.stats.not_modified += 1
            return _UNCHANGED
        if response.status_code != 200:
            raise refused(url, response.status_code, response.text)
        if etag := response.headers.get("etag"):
            self.stats.etags += 1
            if self.poll.etag:
                self._etags[url] = etag
        fingerprint = hash(response.content)
        if self._bodies.get(url) == fingerprint:
            return _UNCHANGED
        self._bodies[url] = fingerprint
        try:
            return response.json()
        except ValueError:
            raise ProtocolError(f"{url} answered HTTP 200 with no JSON") from None

    async def _poll_list(self, first: bool = False) -> None:
        url = self._list_path()
        body = await self._get(url)
        if body is _UNCHANGED:
            return
        conversations = conversation_list(body, self.poll.list_field)
        if conversations is None:
            where = f"at {self.poll.list_field!r}" if self.poll.list_field else "by its shape"
            raise ProtocolError(
                f"{url}: found no list of conversations {where} in a JSON "
                f"{type(body).__name__}; set list_field to where it is"
            )
        if self._open_id is None and conversations:
            self._open_id = conversation_id(conversations[0], self.poll.id_field)
        if not first:
            self._report(url, conversations)
        changed = self._changed(conversations)
        if self.poll.fetch_changed and not first:
            for conversation in changed:
                await self._poll_detail(conversation)

    def _changed(self, conversations: list[Json]) -> list[str | int]:
        """Conversations whose list entry differs from the last time it was seen."""
        changed: list[str | int] = []
        for conversation in conversations:
            number = conversation_id(conversation, self.poll.id_field)
            if number is None:
                continue
            fingerprint = hash(json.dumps(conversation, sort_keys=True, default=str))
            if self._entries.get(number) != fingerprint:
                self._entries[number] = fingerprint
                changed.append(number)
        return changed

    async def _poll_detail(self, conversation: str | int, first: bool = False) -> None:
        url = self._detail_path(conversation)
        body = await self._get(url, {"limit": self.poll.detail_limit})
        if body is not _UNCHANGED and not first:
            field = self.poll.messages_field
            self._report(url, message_list(body, field) if field else body)

    def _report(self, url: str, body: Any) -> None:
        """A poll answer that changed: the consumer matches what it shows to what was sent."""
        self.stats.events += 1
        data = {"url": url, "body": body}
        self._queue.put_nowait(Received(self.transport, self.user, "poll", data, time.time()))
