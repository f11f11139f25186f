"""Holding one listener per push transport and reading what each received.

Each transport is tried at its configured path with the probe user's token, keeping every event
name (the backend's names are what the probe is there to learn). What arrives is matched to the
message and status the probe sent, and each event name is mapped to the scenario's three roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wasim.correlate import How, Match, Matcher, leaf_keys, locate
from wasim.errors import AuthError, WasimError
from wasim.probe.models import PUSH, Carries, Check, EventSeen, ProbeOptions, PushFinding, PushKind
from wasim.transports import Listener, ListenerConfig, Received, StateChange, make_listener

_UPDATE_WORDS = ("update", "conversation", "thread", "changed")
_KEYS_SHOWN = 8


@dataclass
class Tap:
    """One push transport: its listener (when it connected) and what it received."""

    kind: PushKind
    path: str
    listener: Listener | None = None
    reason: str | None = None
    refused: bool = False
    received: list[tuple[Received, list[Match]]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)  # matched since the last mark
    mark: int = 0  # where the status's events start in `received`
    task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        return self.task is not None and not self.task.done()


def found_at(document: Any, key: str, markers: Mapping[str, str]) -> tuple[How, str] | None:
    """How and where `key` sits in `document`: its exact id first, else its text's marker."""
    if (path := locate(document, key, {})) is not None:
        return "id", path
    if (path := locate(document, key, markers)) is not None:
        return "marker", path
    return None


def path_of(kind: PushKind, options: ProbeOptions) -> str:
    paths = {"socketio": options.socketio_path, "sse": options.stream_path, "ws": options.ws_path}
    return paths[kind]


class Taps:
    """The push transports of one probe, read in background tasks until closed."""

    def __init__(self, taps: list[Tap], matcher: Matcher) -> None:
        self.taps = taps
        self.matcher = matcher
        self.arrived = asyncio.Event()

    @classmethod
    async def open(cls, options: ProbeOptions, token: str, matcher: Matcher) -> Taps:
        """Try every push transport at once; a refusal is a finding, not an error."""
        config = options.listener(
            options.base, options.user, token, reconnect=False, connect_timeout=options.timeout
        )
        taps = cls([Tap(kind, path_of(kind, options)) for kind in PUSH], matcher)
        await asyncio.gather(*(taps._connect(tap, config, options.timeout) for tap in taps.taps))
        return taps

    async def _connect(self, tap: Tap, config: ListenerConfig, timeout: float) -> None:
        listener = make_listener(tap.kind, config)
        try:
            # A client library may wait past its own timeout on a server that never answers.
            await asyncio.wait_for(listener.connect(), timeout + 1.0)
        except WasimError as exc:
            tap.reason, tap.refused = str(exc), isinstance(exc, AuthError)
            return
        except TimeoutError:
            tap.reason = f"no answer at {tap.path} within {timeout:g}s"
            return
        except Exception as exc:  # noqa: BLE001  a client library's own failure is a finding
            tap.reason = f"{type(exc).__name__}: {exc}"
            return
        tap.listener = listener
        tap.task = asyncio.create_task(self._read(tap), name=f"probe:{tap.kind}")

    async def _read(self, tap: Tap) -> None:
        assert tap.listener is not None
        async for item in tap.listener.items():
            if isinstance(item, StateChange):
                if item.state in ("failed", "reconnecting"):
                    tap.reason = f"dropped: {item.reason}"
                continue
            matches = self.matcher.find(item.data)
            tap.received.append((item, matches))
            tap.keys.update(match.key for match in matches)
            self.arrived.set()

    @property
    def connected(self) -> list[Tap]:
        return [tap for tap in self.taps if tap.listener is not None]

    async def until(self, keys: set[str], timeout: float, among: list[Tap] | None = None) -> bool:
        """Wait until every live transport (of `among`) received each of `keys` since the last
        mark; False on timeout."""
        deadline = time.monotonic() + timeout
        taps = self.taps if among is None else among
        while not all(keys <= tap.keys for tap in taps if tap.live):
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def mark(self) -> None:
        """What arrives from now on answers the status, not the message."""
        for tap in self.taps:
            tap.mark, tap.keys = len(tap.received), set()

    async def settle(self, quiet: float, limit: float) -> None:
        """Wait until nothing arrived for `quiet` seconds (events that follow one another)."""
        deadline = time.monotonic() + limit
        while (remaining := deadline - time.monotonic()) > 0:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(quiet, remaining))
            except TimeoutError:
                return

    async def close(self) -> None:
        for tap in self.connected:
            assert tap.listener is not None
            with contextlib.suppress(Exception):
                await tap.listener.close()
            if tap.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await tap.task

    def findings(self, wamid: str) -> list[PushFinding]:
        markers = self.matcher.markers
        found: list[PushFinding] = []
        for tap in self.taps:
            events = seen_events(tap, wamid, markers)
            roles = roles_of(events)
            found.append(
                PushFinding(
                    kind=tap.kind,
                    path=tap.path,
                    connected=tap.listener is not None,
                    reason=tap.reason,
                    refused=tap.refused,
                    events=events,
                    **roles,
                )
            )
        return found


def seen_events(tap: Tap, wamid: str, markers: Mapping[str, str]) -> list[EventSeen]:
    """Each event name once, in order of first arrival, with where the message id or marker
    sat; a name first carrying it after the mark carries the status."""
    seen: dict[str, EventSeen] = {}
    for index, (item, matches) in enumerate(tap.received):
        earlier = seen.get(item.event)
        count = earlier.count + 1 if earlier is not None else 1
        hit = found_at(item.data, wamid, markers) if any(m.key == wamid for m in matches) else None
        if earlier is not None and (earlier.carries is not None or hit is None):
            seen[item.event] = earlier.model_copy(update={"count": count})
            continue
        carries: Carries | None = None
        if hit is not None:
            carries = "status" if index >= tap.mark else "message"
        seen[item.event] = EventSeen(
            name=item.event,
            count=count,
            keys=leaf_keys(item.data),
            carries=carries,
            how=None if hit is None else hit[0],
            path=None if hit is None else hit[1],
        )
    return list(seen.values())


def roles_of(events: list[EventSeen]) -> dict[str, str | None]:
    """Which event name plays each scenario role: the one carrying the message (preferring
    names that do not sound like a conversation update, then an exact id over a marker), the
    next one carrying it, and the one carrying the status."""
    carrying = [e for e in events if e.carries == "message"]
    carrying.sort(key=lambda e: (any(w in e.name.lower() for w in _UPDATE_WORDS), e.how != "id"))
    status = next((e.name for e in events if e.carries == "status"), None)
    return {
        "new_message": carrying[0].name if carrying else None,
        "conversation_updated": carrying[1].name if len(carrying) > 1 else None,
        "message_status": status,
    }


def event_line(event: EventSeen) -> str:
    """One event name as people read it: how often, what it carried where, its keys."""
    if event.carries == "status":
        what = f"the status (id at {event.path})"
    elif event.carries == "message":
        what = f"the message ({event.how} at {event.path})"
    else:
        what = "nothing sent"
    times = f" ×{event.count}" if event.count > 1 else ""
    keys = ", ".join(event.keys[:_KEYS_SHOWN]) + (", …" if len(event.keys) > _KEYS_SHOWN else "")
    return f"{event.name}{times}: {what}; keys {keys or 'none'}"


def push_check(finding: PushFinding) -> Check:
    name = f"{finding.kind} {finding.path}"
    if not finding.connected:
        return Check(name=name, verdict="missing", detail=finding.reason or "did not connect")
    dropped = f"; {finding.reason}" if finding.reason else ""
    if not finding.delivers:
        seen = ", ".join(e.name for e in finding.events) or "nothing arrived"
        detail = f"connected, but no event carried the message ({seen}){dropped}"
        return Check(name=name, verdict="warning", detail=detail)
    roles = [
        f"{role} = {name}"
        for role, name in (
            ("new message", finding.new_message),
            ("conversation", finding.conversation_updated),
            ("status", finding.message_status),
        )
        if name is not None
    ]
    return Check(name=name, verdict="ok", detail=f"connected; {', '.join(roles)}{dropped}")
