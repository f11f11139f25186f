"""Running the bundled backend: in this process (tests), or as a child process (bench)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import uvicorn

from wasim.connections import Deadlines, http_protocol, ws_protocol
from wasim.errors import ConfigError, TargetError
from wasim.gcfreeze import Freezer

READY_PREFIX = "wasim serve: listening on "


def bind_socket(
    host: str, port: int, *, listen: bool = True, reuse_port: bool = False
) -> socket.socket:
    """Bind a TCP socket (listening unless told not to); port 0 picks a free one. With
    `reuse_port`, SO_REUSEPORT: each server worker binds its own on the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, or asyncio skips TCP_NODELAY and every answer waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if listen:
        sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def redact(url: str) -> str:
    """`url` with no password: whatever comes before its host is shown as ***."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.split('@', 1)[1]}"


async def check_database(url: str, timeout: float = 10.0) -> None:
    """Open the database once, so a wrong URL is one clear error before the server starts."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    shown = redact(url)
    try:
        engine = create_async_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise ConfigError(f"unusable database URL {shown}: {exc}") from None
    database = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
        # aiosqlite's worker thread crashes noisily when the open fails, so check the folder here.
        folder = os.path.dirname(os.path.abspath(database))
        if not os.access(folder, os.W_OK):
            await engine.dispose()
            raise ConfigError(
                f"cannot create the SQLite database {database}: {folder} is not a writable folder"
            )
    try:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TargetError(f"cannot open the database {shown}: {reason}") from None
    finally:
        await engine.dispose()


async def check_redis(url: str, timeout: float = 5.0) -> None:
    """Ping Redis once, so an unreachable one is one clear error before the server starts."""
    import redis.asyncio as redis
    from redis.exceptions import RedisError

    shown = redact(url)
    try:
        client = redis.from_url(url, socket_connect_timeout=timeout)
    except ValueError as exc:
        raise ConfigError(f"unusable Redis URL {shown}: {exc}") from None
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        raise TargetError(f"cannot reach Redis at {shown}: {exc}") from None
    finally:
        await client.aclose()


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _RedactTokens(logging.Filter):
    """Access log lines never show a token passed in a query string (SSE, WebSocket)."""

    pattern = re.compile(r"((?:^|[?&])(?:token|access_token)=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.pattern.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


logging.getLogger("uvicorn.access").addFilter(_RedactTokens())
logging.getLogger("uvicorn.error").addFilter(_RedactTokens())


def uvicorn_server(
    app: object, log_level: str = "warning", deadlines: Deadlines | None = None
) -> uvicorn.Server:
    deadlines = deadlines or Deadlines()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level=log_level,
        lifespan="on",
        access_log=log_level == "debug",
        http=http_protocol(deadlines),
        ws=ws_protocol(),
        timeout_keep_alive=deadlines.keep_alive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=2,
        ws_ping_interval=None,
        # Like socket.io (perMessageDeflate off by default): compressing each small frame per
        # connection costs CPU, and a compressed connection cannot take a ready frame.
        ws_per_message_deflate=False,
    )
    return uvicorn.Server(config)


async def serve(
    app: object,
    sock: socket.socket,
    *,
    log_level: str = "warning",
    on_ready: Callable[[str], None] | None = None,
    gc_freeze: bool = False,
    deadlines: Deadlines | None = None,
) -> None:
    """Serve `app` on an already bound socket until cancelled or signalled."""
    server = uvicorn_server(app, log_level, deadlines)
    tasks = []
    if gc_freeze:
        freezer = Freezer(server.server_state.connections)
        freezer.install()
        tasks.append(asyncio.create_task(freezer.run()))

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        if on_ready is not None:
            on_ready(url_of(sock))

    tasks.append(asyncio.create_task(announce()))
    try:
        await server.serve(sockets=[sock])
    finally:
        for task in tasks:
            task.cancel()


@dataclass
class ServerThread:
    """An ASGI app served by uvicorn in a background thread, for tests and embedding.

    `start()` returns once the server accepts connections; `stop()` shuts it down.
    Pass `port` to come back on the same port after a stop (a restart).
    """

    app: object
    host: str = "127.0.0.1"
    port: int = 0
    url: str = ""
    deadlines: Deadlines = field(default_factory=Deadlines)
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self, timeout: float = 15.0) -> str:
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.url = url_of(sock)
        self._server = server = uvicorn_server(self.app, deadlines=self.deadlines)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="wasim-server"
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise TargetError(f"the server did not start on {self.url}")
            time.sleep(0.005)
        sock.close()
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class SpawnedBackend:
    """`wasim serve` running as a child process; its URL is read from its ready line."""

    process: subprocess.Popen[str]
    url: str
    stderr: IO[str]

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


def spawn_backend(
    *options: str, env: dict[str, str] | None = None, timeout: float = 30.0
) -> SpawnedBackend:
    """Start `wasim serve --port 0 <options>` in a child process and wait until it listens."""
    command = [sys.executable, "-m", "wasim", "serve", "--port", "0", "--quiet", *options]
    errors = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(READY_PREFIX):
            threading.Thread(target=_drain, args=(process,), daemon=True).start()
            return SpawnedBackend(process, line[len(READY_PREFIX) :].strip(), errors)
        if not line and process.poll() is not None:
            break
    process.kill()
    process.wait()
    process.stdout.close()
    errors.seek(0)
    err = errors.read().strip()
    errors.close()
    last = err.splitlines()[-1] if err else "no output"
    raise TargetError(f"the bundled backend did not start: {last}")


def _drain(process: subprocess.Popen[str]) -> None:
    # A full stdout pipe would block the child; keep reading until it exits.
    assert process.stdout is not None
    for _ in process.stdout:
        pass
