"""A polling client like the seed's web app: the list from N places, the open chat, ETag optional.

It yields one `Received` (event "poll") for each response that shows messages it had not seen,
and counts requests, bytes, 304s and errors in `stats`. Messages already there when it starts
(its baseline) are not reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx

from wasim.errors import WasimError
from wasim.transports._target import refused, unreachable
from wasim.transports.base import Item, Listener, Received, State, StateChange, TransportStats
from wasim.transports.config import ListenerConfig

Json = dict[str, Any]


class PollListener(Listener):
    """Polls `GET conversations` (and one conversation) on timers; reports new messages."""

    transport = "poll"

    def __init__(
        self, config: ListenerConfig, http: httpx.AsyncClient | None = None, autostart: bool = True
    ) -> None:
        self.config = config
        self.autostart = autostart
        self.poll = config.poll
        self.user = config.user
        self.stats = TransportStats()
        self._shared = http
        self._http: httpx.AsyncClient | None = None
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._etags: dict[str, str] = {}
        self._seen: set[str] = set()
        self._floor = 0
        self._open_id = self.poll.conversation_id
        self._failing = False
        self._closed = False

    def mark_seen(self, wamids: Iterable[str]) -> None:
        """Messages the user already holds by another path are not news when a poll shows them."""
        self._seen.update(wamids)

    async def connect(self) -> None:
        if self.poll.hidden:
            return
        if self.poll.baseline:
            try:
                self._report(await self._poll_once(self._list_path(), first=True), "")
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

    async def stop(self) -> None:
        """Stop the timers; the listener stays usable and `start()` resumes polling."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def items(self) -> AsyncIterator[Item]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stop()
        await self._release()
        self._state("closed")
        self._queue.put_nowait(None)

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
        return f"{self._list_path()}/{conversation_id}"

    async def _every(self, interval: float, detail: bool) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            started = time.monotonic()
            try:
                if detail:
                    if self._open_id is not None:
                        url = self._detail_path(self._open_id)
                        self._report(await self._poll_once(url), url)
                else:
                    self._report(await self._poll_once(self._list_path()), self._list_path())
                if self._failing:
                    self._failing = False
                    self._state("connected")
            except (WasimError, KeyError, TypeError) as exc:
                reason = str(exc) if isinstance(exc, WasimError) else f"malformed answer: {exc!r}"
                self.stats.error(reason)
                if not self._failing:
                    self._failing = True
                    self._state("reconnecting", reason)
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0))

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> Json | None:
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
            return None
        if response.status_code != 200:
            raise refused(url, response.status_code, response.text)
        if self.poll.etag and (etag := response.headers.get("etag")):
            self._etags[url] = etag
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise refused(url, 200, "not a JSON object")
        return body

    async def _poll_once(self, url: str, first: bool = False) -> list[Json]:
        """The messages one poll (plus the detail fetches it triggers) turned up."""
        detail = url != self._list_path()
        body = await self._get(url, {"limit": self.poll.detail_limit} if detail else None)
        if body is None:
            return []
        if detail:
            return [m for m in body.get("messages", []) if isinstance(m, dict)]
        conversations = [c for c in body.get("conversations", []) if isinstance(c, dict)]
        if self._open_id is None and conversations and isinstance(conversations[0].get("id"), int):
            self._open_id = conversations[0]["id"]
        found = [
            c["last_message"] for c in conversations if isinstance(c.get("last_message"), dict)
        ]
        if first:
            if self._open_id is not None and self.poll.detail_interval:
                found += await self._poll_once(self._detail_path(self._open_id))
            return found
        if self.poll.fetch_changed:
            for conversation in conversations:
                last = conversation.get("last_message")
                if isinstance(last, dict) and self._is_new(last):
                    found += await self._poll_once(self._detail_path(conversation["id"]))
        return found

    def _is_new(self, message: Json) -> bool:
        wamid, number = message.get("wamid"), message.get("id")
        if not isinstance(wamid, str) or wamid in self._seen:
            return False
        return not isinstance(number, int) or number > self._floor

    def _report(self, messages: list[Json], path: str) -> None:
        received_at = time.time()
        if not path:
            for message in messages:
                self._seen.add(str(message.get("wamid")))
                if isinstance(message.get("id"), int):
                    self._floor = max(self._floor, message["id"])
            return
        new: dict[str, Json] = {}
        for message in messages:
            if self._is_new(message):
                new[message["wamid"]] = message
        if not new:
            return
        self._seen.update(new)
        self.stats.events += 1
        data = {"url": path, "messages": list(new.values())}
        self._queue.put_nowait(
            Received(self.transport, self.user, "poll", data, received_at, None, tuple(new))
        )

    def _state(self, state: State, reason: str | None = None) -> None:
        self._queue.put_nowait(StateChange(self.transport, self.user, state, time.time(), reason))
