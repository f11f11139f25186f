"""The official JavaScript socket.io-client against the bundled backend (Node.js required)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import samples

NODE_DIR = Path(__file__).parent / "node"
pytestmark = pytest.mark.node


async def _start(node: str, url: str, token: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / "listen.mjs"),
        url,
        token,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )


async def _line(proc: asyncio.subprocess.Process) -> dict[str, object]:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
    return dict(json.loads(raw))


async def test_node_client_receives_new_message(
    node: str, backend_url: str, token_for: Callable[[str], str]
) -> None:
    proc = await _start(node, backend_url, token_for("demo"))
    assert await _line(proc) == {"connected": True}
    message = samples.text_message("5215512345678", "hola desde node")
    body, headers = samples.signed(samples.envelope([message]))
    async with httpx.AsyncClient(base_url=backend_url) as client:
        answer = await client.post("/api/whatsapp/webhook", content=body, headers=headers)
    assert answer.status_code == 200
    received = await _line(proc)
    assert received["event"] == "new_message"
    data = received["data"]
    assert isinstance(data, dict)
    assert data["message"]["wamid"] == message["id"]
    assert await proc.wait() == 0


async def test_node_client_is_refused_without_token(node: str, backend_url: str) -> None:
    proc = await _start(node, backend_url, "")
    refused = await _line(proc)
    assert "connect_error" in refused
    assert await proc.wait() == 2
