"""POSTs built in a process of their own, handed to the sender in chunks over a pipe.

Building a realistic body (faker text, ids, JSON, HMAC) costs more CPU than sending it. Done in
the sending process, it would halve the rate one core can send at; done ahead of the schedule,
a long run would have to be held in memory. So the sender forks a builder (which inherits the
modules already imported: no second interpreter to start) that writes whole requests, request
line and headers included, in chunks to a pipe; the sender's event loop reads them as they come,
at most READ_AHEAD bytes ahead, and the pipe's backpressure holds the builder there, so memory
stays flat at any rate and duration.

A chunk is a length-prefixed pickle of `Ready` tuples, plain bytes, floats and strings, so that
unpickling it costs the sender ~1 µs a POST (pickled `Delivery` fields with their header dicts
cost it 16 µs, as much as sending).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import signal
from collections import deque
from collections.abc import Mapping
from typing import Any

from wasim.errors import TargetError, WasimError
from wasim.send.plan import Recipe
from wasim.send.wire import request_bytes
from wasim.workers import error_from, error_record

CHUNK = 256
# The schedule starts when the first chunk is here: it is small, quick to build, and each next
# one twice as large up to CHUNK, so that it is built while the one before is being sent.
FIRST_CHUNK = 16
# Read ahead by the sender, in pickled bytes (~16,000 POSTs, about 1 s of sending flat out): a
# builder that the machine's other processes hold back for a while has that much in hand. With
# 4 chunks (~1,000 POSTs) a busy machine left the sender waiting for its builder: 29% more wall
# time for 30,000 POSTs flat out at load 5 (median of 8 pairs).
READ_AHEAD = 16 << 20
PIPE_BYTES = 1 << 20  # asked of the kernel for the pipe (Linux), so a chunk passes in one read
_END = "end"

# One POST as the sender takes it: (request bytes, scheduled start, duplicate, message ids,
# (status id, status) pairs, markers by message id).
Ready = tuple[bytes, float, bool, tuple[str, ...], tuple[tuple[str, str], ...], Mapping[str, str]]

AVAILABLE = hasattr(os, "fork")  # POSIX; elsewhere the sender builds bodies itself


class Builder:
    """A forked builder process for one `Recipe` (one share of a schedule), read by the running
    event loop. `take()` gives the next chunk or None; `wait()` until there is one."""

    def __init__(self, recipe: Recipe, head: bytes, read_ahead: int = READ_AHEAD) -> None:
        self.read_ahead = read_ahead
        self.done = False  # the builder sent its last chunk (or failed)
        self.error: WasimError | None = None
        self._chunks: deque[tuple[list[Ready], int]] = deque()  # with their pickled size
        self._held = 0  # bytes: the sizes of the chunks held
        self._buffer = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading = False
        self._ready = asyncio.Event()
        read, write = os.pipe()
        with contextlib.suppress(AttributeError, OSError):  # not Linux, or a lower limit
            import fcntl  # POSIX only, as fork (AVAILABLE): imported where it is used

            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            self._pid = os.fork()
        except OSError as exc:
            os.close(read)
            os.close(write)
            raise TargetError(f"cannot start the builder process: {exc}") from None
        if self._pid == 0:
            _child(recipe, head, write)  # never returns
        os.close(write)
        os.set_blocking(read, False)
        self._fd = read

    @property
    def held(self) -> int:
        """POSTs read from the builder and not yet taken."""
        return sum(len(chunk) for chunk, _ in self._chunks)

    @property
    def reading(self) -> bool:
        """Whether the pipe is being read (False: paused, enough is held, or done)."""
        return self._reading

    def start(self) -> None:
        """Start reading, on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._resume()

    def take(self) -> list[Ready] | None:
        """The next chunk, if one is here; raises the builder's error once it has no more."""
        if self._chunks:
            chunk, size = self._chunks.popleft()
            self._held -= size
            # Read on only once what is held is under READ_AHEAD again: resumed at every take,
            # the reader would fetch a pipe's worth (several chunks) for each one taken, and a
            # builder faster than the schedule would end up held here whole (1 KB a POST).
            if not self._reading and not self.done and self._held < self.read_ahead:
                self._resume()
            return chunk
        if self.done and self.error is not None:
            raise self.error
        return None

    async def wait(self, timeout: float | None = None) -> None:
        """Until a chunk is here, the builder is done, or `timeout` seconds passed."""
        if self._chunks or self.done:
            return
        self._ready.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    def close(self) -> None:
        self._pause()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)

    def _resume(self) -> None:
        if self._loop is not None and not self._reading and self._fd >= 0:
            self._loop.add_reader(self._fd, self._read)
            self._reading = True

    def _pause(self) -> None:
        if self._loop is not None and self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _read(self) -> None:
        try:
            data = os.read(self._fd, PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            return self._finish(TargetError(f"the builder process stopped: {exc}"))
        if not data:
            return self._finish(TargetError("the builder process stopped"))
        buffer = self._buffer
        buffer += data
        while len(buffer) >= 4:
            size = int.from_bytes(buffer[:4], "big") + 4
            if len(buffer) < size:
                break
            message = pickle.loads(buffer[4:size])
            del buffer[:size]
            if message == _END:
                return self._finish(None)
            if isinstance(message, dict):  # workers.error_record
                return self._finish(error_from(message, "the builder process failed"))
            self._chunks.append((message, size))
            self._held += size
        if self._held >= self.read_ahead:
            self._pause()
        if self._chunks:
            self._ready.set()

    def _finish(self, error: WasimError | None) -> None:
        self.error = error
        self.done = True
        self._pause()
        self._ready.set()


def _child(recipe: Recipe, head: bytes, write: int) -> None:
    """The builder process: write `recipe`'s POSTs to `write`, then leave without running any
    of the parent's clean-up (its event loop, its files and its exit handlers are not ours)."""
    try:
        gc.freeze()  # what the parent holds stays untouched: its pages stay shared
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)  # the parent's event loop must not hear our signals
        # Ctrl-C reaches the whole process group: the sender reports and then stops us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # The parent's sockets (a server's listening one too) must not stay open in here.
        os.closerange(3, write)
        os.closerange(write + 1, os.sysconf("SC_OPEN_MAX"))
        with open(write, "wb", buffering=0) as out:
            build(recipe, head, out.write)
    finally:
        os._exit(0)


def build(recipe: Recipe, head: bytes, write: Any) -> None:
    """Pass `recipe`'s POSTs, each behind `head` (its request line and fixed headers), to
    `write` in length-prefixed pickled chunks, then the end mark (or the error that stopped
    it)."""

    def send(message: object) -> None:
        blob = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        write(len(blob).to_bytes(4, "big") + blob)

    chunk: list[Ready] = []
    size = FIRST_CHUNK
    try:
        for d in recipe.deliveries():
            request = request_bytes(head, d.body, d.headers)
            chunk.append((request, d.at, d.duplicate, d.wamids, d.statuses, d.markers))
            if len(chunk) == size:
                send(chunk)
                chunk, size = [], min(size * 2, CHUNK)
        if chunk:
            send(chunk)
        send(_END)
    except BrokenPipeError:
        pass  # the sender is gone or closed us
    except WasimError as exc:
        send(error_record(exc))
    except Exception as exc:  # a bug: say it rather than leave the sender waiting
        send(error_record(WasimError(f"the builder process failed: {exc!r}")))
