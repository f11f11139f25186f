"""The inbox's server side: the page and its files, its settings, the dev login."""

from __future__ import annotations

import httpx
import pytest

from mock_backend import Settings, create_app
from mock_backend.auth import authenticate
from wasim.server import ServerThread


async def test_inbox_page_and_vendored_socketio_client_are_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    client = await http.get("/inbox/vendor/socket.io.min.js")
    assert page.status_code == 200 and "/inbox/inbox.js" in page.text
    assert client.status_code == 200 and "Socket.IO v4" in client.text[:100]


async def test_dev_login_mints_a_token_the_backend_accepts(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    answer = await http.post("/api/dev/login", json={"user": "alice"})
    assert answer.status_code == 200
    assert authenticate(answer.json()["token"], settings).user == "alice"


async def test_dev_login_refused_with_a_secret_of_its_own(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, jwt_secret="a-real-secret-of-32-bytes-or-more")
    with ServerThread(create_app(settings)) as running:
        async with httpx.AsyncClient(base_url=running.url) as http:
            answer = await http.post("/api/dev/login", json={"user": "alice"})
            config = (await http.get("/inbox/config.json")).json()
    assert answer.status_code == 403
    assert "dev login is off" in answer.json()["detail"]
    assert config["dev_login"] is False


@pytest.mark.parametrize("user", ["", "a b", "x" * 129])
async def test_dev_login_refuses_a_bad_user_name(http: httpx.AsyncClient, user: str) -> None:
    assert (await http.post("/api/dev/login", json={"user": user})).status_code == 422
