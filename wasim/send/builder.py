"""POST bodies built in a process of their own, handed to the sender in chunks.

Building a realistic body (faker text, ids, JSON, HMAC) costs about as much CPU as sending it.
Done in the sending process, it would halve the rate one core can send at; done ahead of the
schedule, a long run would have to be held in memory. So `wasim send` builds in a child process
(`python -m wasim.send.builder`, fed a pickled `Recipe` on stdin) that writes pickled chunks of
CHUNK deliveries to its stdout. A thread of the sender reads at most BUFFERED chunks ahead; the
pipe's backpressure holds the builder there, so memory stays flat at any rate and duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import subprocess
import sys
import threading
from collections import deque
from typing import IO, Any

from wasim.errors import ConfigError, TargetError, WasimError
from wasim.send.plan import Delivery, Recipe

CHUNK = 256
BUFFERED = 4  # chunks read ahead by the sender
_END = "end"


class Builder:
    """A builder process for one `Recipe` (one share of a schedule) and the thread that reads
    its chunks. `take()` gives the next chunk or None; `wait()` until there is one."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.done = False  # the builder sent its last chunk (or failed)
        self.error: WasimError | None = None
        self._chunks: deque[list[Delivery]] = deque()
        self._room = threading.Condition()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._thread: threading.Thread | None = None
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from wasim.send.builder import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdout = self._process.stdout
        try:
            pickle.dump(recipe, self._process.stdin)
            self._process.stdin.close()
        except OSError as exc:
            self.close()
            raise TargetError(f"cannot start the builder process: {exc}") from None

    def start(self) -> None:
        """Start reading, for the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._read, name="wasim-builder", daemon=True)
        self._thread.start()

    def take(self) -> list[Delivery] | None:
        """The next chunk, if one is here; raises the builder's error once it has no more."""
        with self._room:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._room.notify()
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
        with self._room:
            self._closed = True
            self._room.notify_all()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._stdout.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _read(self) -> None:
        try:
            while True:
                with self._room:
                    self._room.wait_for(lambda: self._closed or len(self._chunks) < BUFFERED)
                    if self._closed:
                        return
                message = pickle.load(self._stdout)
                if message == _END:
                    return
                if isinstance(message, tuple):  # ("error", text, exit code)
                    self.error = _error(message)
                    return
                chunk = [Delivery(*fields) for fields in message]
                with self._room:
                    self._chunks.append(chunk)
                self._wake()
        except (EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
            if not self._closed:
                self.error = TargetError(
                    f"the builder process stopped: {exc or type(exc).__name__}"
                )
        finally:
            self.done = True
            self._wake()

    def _wake(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._ready.set)


def _error(message: tuple[Any, ...]) -> WasimError:
    _, text, code = message
    error: WasimError = ConfigError(text) if code == ConfigError.exit_code else WasimError(text)
    return error


def build(recipe: Recipe, out: IO[bytes]) -> None:
    """Write `recipe`'s POSTs to `out` in pickled chunks, then the end mark."""
    chunk: list[tuple[Any, ...]] = []
    try:
        for d in recipe.deliveries():
            headers = dict(d.headers)
            chunk.append((d.body, headers, d.wamids, d.statuses, d.duplicate, d.at, d.markers))
            if len(chunk) == CHUNK:
                pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
                chunk = []
        if chunk:
            pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(_END, out)
    except WasimError as exc:
        pickle.dump(("error", str(exc), exc.exit_code), out)
    out.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group: the sender reports and then stops this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    recipe = pickle.load(sys.stdin.buffer)
    with contextlib.suppress(BrokenPipeError):
        build(recipe, sys.stdout.buffer)


if __name__ == "__main__":
    main()
