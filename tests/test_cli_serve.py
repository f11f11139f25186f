"""`wasim serve` as a user runs it (a child process), and `wasim token`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from wasim import defaults
from wasim.errors import TargetError
from wasim.server import bind_socket, spawn_backend
from wasim.tokens import mint_token


def wasim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasim", *args], capture_output=True, text=True, timeout=60
    )


def test_serve_answers_health_on_a_free_port(tmp_path: Path) -> None:
    backend = spawn_backend("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        assert httpx.get(f"{backend.url}/healthz").status_code == 200
    finally:
        backend.stop()


def test_serve_prints_its_dev_secrets(tmp_path: Path) -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    command = [sys.executable, "-m", "wasim", "serve", "--port", str(port)]
    command += ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"]
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("wasim serve: listening on"):
                break
        proc.terminate()
    text = "".join(lines)
    assert f"{defaults.APP_SECRET} (dev default)" in text
    assert f"http://127.0.0.1:{port}{defaults.WEBHOOK_PATH}" in text


def test_serve_on_a_taken_port_is_one_line() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        result = wasim("serve", "--port", str(sock.getsockname()[1]), "--host", "127.0.0.1")
    finally:
        sock.close()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("database_url", "exit_code"),
    [
        pytest.param("nosuchdb://x", 2, id="unknown-dialect"),
        pytest.param("sqlite+aiosqlite:////nonexistent/folder/w.db", 2, id="no-such-folder"),
        pytest.param("postgresql+asyncpg://nobody@127.0.0.1:1/x", 3, id="unreachable"),
    ],
)
def test_serve_with_a_bad_database_is_one_line(database_url: str, exit_code: int) -> None:
    result = wasim("serve", "--port", "0", "--database-url", database_url)
    assert result.returncode == exit_code
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_spawn_backend_that_cannot_start_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="unknown|dialect|plugin"):
        spawn_backend("--database-url", "nosuchdb://x", timeout=20)


def test_token_carries_the_user_claim() -> None:
    result = wasim("token", "--user", "ana", "--claim", "sub")
    claims = jwt.decode(result.stdout.strip(), defaults.JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "ana"
    assert claims["exp"] > claims["iat"]


def test_token_with_an_unknown_algorithm_is_one_line() -> None:
    result = wasim("token", "--algorithm", "RS999")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


async def test_serve_logs_never_show_a_token(tmp_path: Path) -> None:
    import websockets

    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "wasim", "serve", "--port", "0", "--log-level", "debug"]
    command += ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"]
    token = mint_token("demo")
    with (
        log.open("w") as err,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True) as proc,
    ):
        assert proc.stdout is not None
        url = next(line for line in proc.stdout if line.startswith("wasim serve: listening on"))
        base = url.rsplit(" ", 1)[1].strip()
        async with websockets.connect(f"ws{base[4:]}{defaults.WS_PATH}?token={token}"):
            pass
        httpx.get(f"{base}{defaults.STREAM_PATH}?token=not-a-real-token.x.y")
        proc.terminate()
    text = log.read_text()
    assert defaults.WS_PATH in text and "token=***" in text
    assert token not in text and "not-a-real-token" not in text


def test_serve_with_an_unreachable_redis_is_one_line(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    result = wasim(
        "serve", "--port", "0", "--database-url", database, "--redis-url", "redis://127.0.0.1:1/0"
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot reach Redis")
    assert len(result.stderr.strip().splitlines()) == 1
