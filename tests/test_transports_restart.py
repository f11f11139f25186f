"""A backend restart mid-run: every push listener reconnects and resumes, missing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mock_backend import Settings, create_app
from tests.helpers import wait_for
from tests.test_backend_push import backend_in
from tests.test_transports import Collector, post_message
from wasim.server import ServerThread
from wasim.tokens import mint_token
from wasim.transports import ListenerConfig, Received, StateChange, make_listener


@pytest.mark.parametrize("kind", ["socketio", "socketio-lean", "sse", "ws"])
async def test_transport_resumes_after_restart_without_loss(kind: str, settings: Settings) -> None:
    first = ServerThread(create_app(settings)).__enter__()
    config = ListenerConfig(base_url=first.url, token=mint_token("demo"), backoff_max=0.2)
    listener = make_listener(kind, config)
    await listener.connect()
    seen = Collector(listener)
    await wait_for(seen.has(await post_message(first.url, "5215500000001")))
    first.stop()
    # Messages arrive while the listener's backend is down: another instance, same database.
    with ServerThread(create_app(settings)) as other:
        missed = [await post_message(other.url, "5215500000001", f"m{i}") for i in range(3)]
    with ServerThread(create_app(settings), port=first.port) as again:
        for wamid in missed:
            await wait_for(seen.has(wamid))
        await wait_for(seen.has(await post_message(again.url, "5215500000001")))
        await seen.close()
    states = [i.state for i in seen.items if isinstance(i, StateChange)]
    assert "reconnecting" in states
    assert listener.stats.reconnects >= 1
    assert listener.stats.duplicates == 0
    assert listener.stats.missed == 0
    arrived = [i.wamids for i in seen.items if isinstance(i, Received) and i.event == "new_message"]
    assert len(arrived) == len(set(arrived)) == 5


@pytest.mark.parametrize("kind", ["socketio", "socketio-lean", "sse", "ws"])
async def test_transport_resumes_when_the_replay_fails(
    kind: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings)
    backend = backend_in(app)
    replay = backend.replay

    async def fails_once(user: str, after: int) -> list[Any]:
        monkeypatch.setattr(backend, "replay", replay)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(backend, "replay", fails_once)
    with ServerThread(app) as server:
        wamid = await post_message(server.url, "5215500000001")
        config = ListenerConfig(base_url=server.url, token=mint_token("demo"), last_event_id=0)
        listener = make_listener(kind, config)
        await listener.connect()
        seen = Collector(listener)
        # Connected, but the replay failed: the server must drop it, not leave it without events.
        await wait_for(seen.has(wamid))
        await seen.close()
    assert listener.stats.reconnects == 1
    assert (listener.stats.duplicates, listener.stats.missed) == (0, 0)
