"""The seed's hybrid client: push while it works, polling while push is down, push again."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from wasim.transports._push import PushListener
from wasim.transports.base import Listener, StateChange
from wasim.transports.poll import PollListener


class HybridListener(Listener):
    """Push first; after `after` seconds without it, poll every `every` s until it is back,
    then poll once more (what was sent since the last poll) and stop.

    Its items are both listeners' (poll items have transport "poll"): the consumer, which
    matches them to what was sent, counts a message once, by whichever showed it first.
    """

    def __init__(
        self, push: PushListener, every: float, after: float, poll_url: str | None = None
    ) -> None:
        super().__init__(push.user)
        self.push = push
        self.transport = push.transport
        self.stats = push.stats
        poll = push.config.poll.fallback(every)
        config = replace(push.config, poll=poll, base_url=poll_url or push.config.base_url)
        self.poller = PollListener(config, autostart=False)
        self.after = after
        self.fallbacks: list[list[float]] = []  # [started, stopped] wall-clock times of polling
        self._timer: asyncio.Task[None] | None = None
        self._pumps: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        await self.push.connect()
        try:
            await self.poller.connect()
        except BaseException:
            await self.push.close()
            raise
        self._pumps = [
            asyncio.create_task(self._forward(self.push)),
            asyncio.create_task(self._forward(self.poller)),
        ]

    async def close(self) -> None:
        self._cancel_timer()
        await self.push.close()
        await self.poller.close()
        await asyncio.gather(*self._pumps)
        self._end()

    async def _forward(self, source: Listener) -> None:
        async for item in source.items():
            if isinstance(item, StateChange) and source is self.push:
                await self._follow(item)
            self._queue.put_nowait(item)

    async def _follow(self, change: StateChange) -> None:
        if change.state == "reconnecting" and self._timer is None:
            self._timer = asyncio.create_task(self._fall_back())
        elif change.state == "connected":
            self._cancel_timer()
            await self.poller.stop()
            if self.fallbacks and len(self.fallbacks[-1]) == 1:
                # A message sent between the last poll and the new subscription comes neither
                # way from a backend without resume: one more poll, then polling has stopped.
                await self.poller.poll_once()
                self.fallbacks[-1].append(time.time())

    async def _fall_back(self) -> None:
        await asyncio.sleep(self.after)
        self.fallbacks.append([time.time()])
        self.poller.start()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
