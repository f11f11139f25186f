"""The inbox at `/` of `wasim serve`, in Debian's Chromium: webhooks sent with `wasim send` land
in the page on every transport, with unread counts, status ticks and their latency."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser import Watched, send, watch

PUSH = ["socketio", "sse", "websocket"]
CONNECTED = {
    "socketio": "Socket.IO connected",
    "sse": "SSE connected",
    "websocket": "WebSocket connected",
}


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    yield watch(context.new_page())
    context.close()


def open_inbox(page: Watched, url: str, query: str) -> None:
    page.page.goto(f"{url}/?user=demo&{query}")
    page.page.wait_for_selector(".pane")


def unread(page: Watched, phone: str) -> str:
    badge = page.page.locator(f".pane >> nth=0 >> li[data-phone='{phone}'] .unread")
    return str(badge.get_attribute("data-count", timeout=1000))


@pytest.mark.parametrize("transport", PUSH)
def test_inbox_push_shows_a_webhook_within_a_second(
    page: Watched, served: str, transport: str
) -> None:
    open_inbox(page, served, f"transport={transport}")
    page.page.wait_for_selector(f"#status:has-text('{CONNECTED[transport]}')")
    send(served, "text", "--body", f"first over {transport}", "--from", "5215511110001")
    page.page.wait_for_selector(f"text=first over {transport}", timeout=1000)
    assert unread(page, "5215511110001") == "1"
    send(served, "text", "--body", f"second over {transport}", "--from", "5215511110001")
    page.page.wait_for_selector(f"text=second over {transport}", timeout=1000)
    assert unread(page, "5215511110001") == "2"
    page.page.click(".conversations li")
    latency = page.page.locator(".msg", has_text=f"second over {transport}").locator(".latency")
    assert 0 <= int(str(latency.get_attribute("data-ms"))) < 1000
    page.page.wait_for_selector(".unread[data-count='0']", state="attached")
    page.shot(f"inbox-{transport}")
    assert page.errors == []


@pytest.mark.parametrize("transport", ["poll", "poll-optimized"])
def test_inbox_polling_shows_a_webhook_after_its_poll(
    page: Watched, served: str, transport: str
) -> None:
    open_inbox(page, served, f"transport={transport}")
    page.page.wait_for_selector("#status:has-text('polling')")
    send(served, "text", "--body", f"polled by {transport}", "--from", "5215511110002")
    started = time.monotonic()
    interval = 5.0 if transport == "poll" else 10.0
    page.page.wait_for_selector(f"text=polled by {transport}", timeout=(interval + 3) * 1000)
    assert time.monotonic() - started < interval + 3
    assert unread(page, "5215511110002") == "1"
    assert page.errors == []


def test_inbox_status_tick_changes_on_status_read(page: Watched, served: str) -> None:
    send(served, "echo", "--id", "wamid.INBOXTICK1", "--from", "5215511110003")
    open_inbox(page, served, "transport=sse")
    page.page.wait_for_selector("#status:has-text('SSE connected')")
    page.page.click(".conversations li")
    tick = page.page.locator(".msg[data-wamid='wamid.INBOXTICK1'] .tick")
    assert tick.get_attribute("data-status") == "sent"
    send(served, "status", "read", "--id", "wamid.INBOXTICK1", "--from", "5215511110003")
    page.page.wait_for_selector(".msg[data-wamid='wamid.INBOXTICK1'] .tick[data-status='read']")
    assert tick.text_content() == "✓✓"
    assert page.errors == []


def test_inbox_split_view_shows_push_and_polling(page: Watched, served: str) -> None:
    open_inbox(page, served, "transport=socketio&split=1")
    panes = page.page.locator(".pane")
    assert [panes.nth(i).get_attribute("data-transport") for i in range(2)] == ["socketio", "poll"]
    page.page.wait_for_selector("#status:has-text('connected')")
    send(served, "text", "--body", "seen twice", "--from", "5215511110004")
    page.page.wait_for_selector(".pane[data-transport='socketio'] >> text=seen twice", timeout=1000)
    page.page.wait_for_selector(".pane[data-transport='poll'] >> text=seen twice", timeout=8000)
    for index in range(2):
        panes.nth(index).locator(".conversations li").first.click()
    page.page.wait_for_selector(".pane[data-transport='poll'] .msg .latency")
    page.shot("inbox-split")
    assert page.errors == []


def test_docs_render_offline(page: Watched, served: str) -> None:
    page.page.goto(f"{served}/docs")
    page.page.wait_for_selector(".swagger-ui .opblock", timeout=10000)
    assert all(url.startswith(served) or url.startswith("data:") for url in page.requests)
    assert page.errors == []
