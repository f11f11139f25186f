"""wasim counts Socket.IO requests and bytes by overriding three private methods of
python-engineio's client (wasim/transports/socketio.py): its public API has no hook for them.
This fails loudly when python-engineio changes what is overridden; pyproject pins its major."""

from __future__ import annotations

import inspect

import engineio
import pytest

OVERRIDDEN = {
    "_connect_websocket": ["self", "url", "headers", "engineio_path"],
    "_send_request": ["self", "method", "url", "headers", "body", "timeout"],
    "_receive_packet": ["self", "pkt"],
}


@pytest.mark.parametrize("name", sorted(OVERRIDDEN))
def test_engineio_private_methods_wasim_overrides_are_unchanged(name: str) -> None:
    method = getattr(engineio.AsyncClient, name, None)
    assert method is not None, f"python-engineio no longer has AsyncClient.{name}"
    assert inspect.iscoroutinefunction(method)
    assert list(inspect.signature(method).parameters) == OVERRIDDEN[name]
