"""Shared fixtures: real servers on free ports, fresh databases, tokens."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import chromium_path
from foreign_backend import create_foreign_app
from helpers import REQUIRE_SERVICES, Receiver, plain_receiver

from mock_backend import Settings, create_app
from wasim.server import ServerThread, spawn_backend
from wasim.tokens import mint_token

POSTGRES_URL = os.environ.get(
    "WASIM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("WASIM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WASIM_") and not name.startswith("WASIM_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture(autouse=True)
def _ledger_in_tmp(
    _clean_environment: None,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`wasim send` and `wasim listen` use a send ledger by default: never the user's own."""
    monkeypatch.setenv("WASIM_LEDGER", str(tmp_path_factory.mktemp("ledger") / "sent.jsonl"))


def reachable(url: str) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1.0):
            return True
    except OSError:
        return False


def need_service(url: str, what: str) -> None:
    if reachable(url):
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} at {url} is unreachable, and WASIM_REQUIRE_SERVICES=1")
    pytest.skip(f"{what} at {url} is unreachable on this machine")


async def _admin(statement: str) -> None:
    import asyncpg

    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to a fresh, empty PostgreSQL database, dropped afterwards."""
    need_service(POSTGRES_URL, "PostgreSQL")
    name = f"wasim_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> str:
    need_service(REDIS_URL, "Redis")
    return REDIS_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'wasim.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs twice: on a SQLite file and on the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'wasim.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return Settings(database_url=sqlite_url)


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    """The bundled backend served by uvicorn on a free port, on a fresh SQLite file."""
    with ServerThread(create_app(settings)) as running:
        yield running


@pytest.fixture
def backend_url(server: ServerThread) -> str:
    return server.url


@pytest.fixture
def token_for(settings: Settings) -> Callable[[str], str]:
    def mint(user: str) -> str:
        return mint_token(
            user, secret=settings.jwt_secret, claim=settings.jwt_claim, expires_in=600
        )

    return mint


@pytest.fixture
async def http(backend_url: str) -> AsyncIterator[object]:
    import httpx

    async with httpx.AsyncClient(base_url=backend_url, timeout=10) as client:
        yield client


@pytest.fixture
def foreign_url() -> Iterator[str]:
    """tests/foreign_backend.py, a backend wasim did not write, served on a free port."""
    with ServerThread(create_foreign_app()) as running:
        yield running.url


def _node_modules_ready() -> bool:
    # npm writes node_modules/.package-lock.json last: an interrupted install has none
    modules = NODE_DIR / "node_modules"
    return (modules / ".package-lock.json").is_file() and (modules / "socket.io-client").is_dir()


@pytest.fixture(scope="session")
def node() -> str:
    """Node.js with tests/node's locked packages installed (`npm ci` once, if they are not)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = f"{'Node.js' if node is None else 'npm'} is not installed"
        if REQUIRE_SERVICES:
            pytest.fail(f"the socket.io-client tests cannot run: {reason}")
        pytest.skip(reason)
    # The lock file is the lock: parallel test runs install one at a time, and only once.
    with (NODE_DIR / "package-lock.json").open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _node_modules_ready():
            command = [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"]
            done = subprocess.run(
                [*command, "--loglevel=error"], capture_output=True, text=True, timeout=600
            )
            if done.returncode != 0:
                pytest.fail(f"npm ci --prefix tests/node failed: {done.stderr.strip()}")
    return node


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright, headless; skipped (failed in CI) without it."""
    found = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        found, missing = None, "the playwright package is not installed"
    else:
        missing = "no Chromium found (apt-get install -y chromium)"
    if found is None:
        if REQUIRE_SERVICES:
            pytest.fail(f"the browser tests cannot run: {missing}")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=found, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`wasim serve` as a user runs it, in a child process on a free port, with a fresh SQLite."""
    backend = spawn_backend("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'served.db'}")
    yield backend.url
    backend.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A plain webhook receiver (any path) that keeps raw bodies and signature headers."""
    with plain_receiver() as state:
        yield state
