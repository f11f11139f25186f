"""The send ledger: which message ids `wasim send` posted, and when each POST was due.

`wasim send` appends NDJSON lines to a per-user file; `wasim listen` follows the same file and
turns an event's wamid into a precise latency (received − the POST's scheduled start). Lines:

    {"run": 4242, "begun": 1767225600.1}                        a send began (pid 4242)
    {"wamid": "wamid.…", "scheduled": 1767225600.2, "started": 1767225600.2003}
    {"wamid": "wamid.…", "status": "read", "scheduled": …, "started": …}
    {"wamid": "wamid.…", "marker": "K7QF2M", "scheduled": …, "started": …}  (`send --marker`)
    {"run": 4242, "ended": 1767225610.4}

Times are wall-clock `time.time()` seconds. Every write is whole lines through O_APPEND, so
several sending processes can share one file; past `MAX_BYTES` it moves to `<name>.1`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii as quote
from pathlib import Path
from typing import Any

import psutil

from wasim.errors import ConfigError

ENV = "WASIM_LEDGER"
MAX_BYTES = 50 * 1024 * 1024
CHUNK_BYTES = 64 * 1024  # one write() of whole lines; appends this size do not interleave
LOOKBACK_S = 5.0  # a listener starting now still knows POSTs scheduled this long ago
LOOKBACK_BYTES = 2 * 1024 * 1024
ACTIVE_S = 5.0  # a ledger written to this recently belongs to a running send
CAPACITY = 100_000  # ids a follower remembers, oldest forgotten first
_CHECK_RUNS_S = 1.0


def default_path() -> Path:
    """`$WASIM_LEDGER`, else `sent.jsonl` in the user's cache directory for wasim."""
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "wasim" / "sent.jsonl"


def ledger_path(path: Path | None, enabled: bool) -> Path | None:
    """The ledger a command uses: `--ledger PATH`, else the default; None with `--no-ledger`."""
    return (path or default_path()) if enabled else None


def append(path: Path, data: bytes, max_bytes: int = MAX_BYTES) -> None:
    """Append whole lines with O_APPEND, in chunks that end on a newline; rotate when large."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view, start = memoryview(data), 0
        while start < len(data):
            end = len(data)
            if end - start > CHUNK_BYTES:
                end = data.rfind(b"\n", start, start + CHUNK_BYTES) + 1 or end
            start += os.write(fd, view[start:end])
        size = os.fstat(fd).st_size
        if size > max_bytes and os.stat(path).st_ino == os.fstat(fd).st_ino:
            with contextlib.suppress(OSError):  # another writer rotated it first
                os.replace(path, f"{path}.1")
    finally:
        os.close(fd)


class LedgerWriter:
    """Buffers the lines of POSTs as they start; `flush` appends them (every ~100 ms)."""

    def __init__(self, path: Path, *, announce: bool = True) -> None:
        self.path = path
        self.announce = announce
        self.failed: str | None = None
        self._lines: list[str] = []
        if announce:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                append(path, _marker("begun"))
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the send ledger {path}: {exc.strerror}; "
                    "--ledger PATH moves it, --no-ledger turns it off"
                ) from None

    def note(
        self,
        wamids: Iterable[str],
        statuses: Iterable[tuple[str, str]],
        scheduled: float,
        started: float,
        markers: Mapping[str, str] | None = None,
    ) -> None:
        """One POST: the ids it carried (and the marker of each id's text, if any), when it was
        due and when it went (`time.time()`)."""
        times = f'"scheduled":{scheduled:.6f},"started":{started:.6f}}}\n'
        lines = self._lines
        for wamid in wamids:
            marker = (markers or {}).get(wamid)
            if marker:
                lines.append(f'{{"wamid":{quote(wamid)},"marker":{quote(marker)},{times}')
            else:
                lines.append(f'{{"wamid":{quote(wamid)},{times}')
        for wamid, status in statuses:
            lines.append(f'{{"wamid":{quote(wamid)},"status":{quote(status)},{times}')

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        if not lines or self.failed:
            return
        try:
            append(self.path, "".join(lines).encode())
        except OSError as exc:  # the run goes on; the ledger is a help, not the job
            self.failed = exc.strerror or str(exc)

    def close(self) -> None:
        self.flush()
        if self.announce and not self.failed:
            with contextlib.suppress(OSError):
                append(self.path, _marker("ended"))


def _marker(what: str) -> bytes:
    return f'{{"run":{os.getpid()},"{what}":{time.time():.6f}}}\n'.encode()


def key(wamid: str, status: str | None = None) -> str:
    """What a follower files an id under: a status update is its own entry."""
    return wamid if status is None else f"{wamid} {status}"


class LedgerFollower:
    """Reads what is appended to a ledger: id → scheduled start, and whether a send is on.

    `poll()` is cheap (one stat, one read of what is new); call it every ~50 ms.
    """

    def __init__(self, path: Path, capacity: int = CAPACITY) -> None:
        self.path = path
        self.capacity = capacity
        self.scheduled: dict[str, float] = {}  # key(wamid, status) -> scheduled start
        self.ids: dict[str, float] = {}  # wamid -> its earliest scheduled start, any status
        self.markers: dict[str, str] = {}  # marker code -> wamid
        self._inode = -1
        self._offset = 0
        self._partial = b""
        self._runs: dict[int, float] = {}  # pid → when it began
        self._last_line = float("-inf")  # monotonic, when a line was last read
        self._runs_checked = 0.0

    def start(self, lookback: float = LOOKBACK_S) -> None:
        """Begin at the end of the file, knowing what was scheduled in the last `lookback` s."""
        try:
            with open(self.path, "rb") as file:
                stat = os.fstat(file.fileno())
                file.seek(max(stat.st_size - LOOKBACK_BYTES, 0))
                tail = file.read(stat.st_size - file.tell())
        except OSError:
            return
        self._inode, self._offset = stat.st_ino, stat.st_size
        lines = tail.split(b"\n")[:-1]
        if stat.st_size > LOOKBACK_BYTES:
            lines = lines[1:]  # the first may be a line's end only
        self._read(lines, since=time.time() - lookback)

    def poll(self) -> None:
        """Read the lines appended since the last poll (from the start of a new or cut file)."""
        try:
            stat = os.stat(self.path)
            if stat.st_ino != self._inode or stat.st_size < self._offset:
                self._inode, self._offset, self._partial = stat.st_ino, 0, b""
            if stat.st_size == self._offset:
                return
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read(stat.st_size - self._offset)
        except OSError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        self._read(lines)

    def _read(self, lines: list[bytes], since: float | None = None) -> None:
        scheduled = self.scheduled
        for line in lines:
            try:
                entry: dict[str, Any] = json.loads(line)
                if "wamid" in entry:
                    at = float(entry["scheduled"])
                    if since is None or at >= since:
                        wamid = entry["wamid"]
                        scheduled.setdefault(key(wamid, entry.get("status")), at)
                        self.ids.setdefault(wamid, at)
                        if "marker" in entry:
                            self.markers[entry["marker"]] = wamid
                elif "begun" in entry:
                    self._runs[int(entry["run"])] = float(entry["begun"])
                elif "ended" in entry:
                    self._runs.pop(int(entry["run"]), None)
            except (ValueError, TypeError, KeyError):
                continue  # not a ledger line; a hand-edited or foreign file
        if lines and since is None:
            self._last_line = time.monotonic()
        for index in (scheduled, self.ids, self.markers):
            while len(index) > self.capacity:
                del index[next(iter(index))]

    def lookup(self, wamid: str, status: str | None = None) -> float | None:
        return self.scheduled.get(key(wamid, status))

    @property
    def active(self) -> bool:
        """Whether a send is writing here now (recent lines, or a begun run still alive)."""
        now = time.monotonic()
        if now - self._last_line < ACTIVE_S:
            return True
        if self._runs and now - self._runs_checked >= _CHECK_RUNS_S:
            self._runs_checked = now
            self._runs = {pid: t for pid, t in self._runs.items() if psutil.pid_exists(pid)}
        return bool(self._runs)
