"""Where each client of a bench run connects: straight to the backend, or over a proxy link.

With faults, the proxy has one link for polling (`http`), one for the webhooks (`webhook`) and
`LANES` links for push connections; a group's clients are spread over the lanes in order, so a
fault on the first `round(share × LANES)` lanes reaches about that share of every group's
clients, the same clients on every reconnect.
"""

from __future__ import annotations

from pydantic import BaseModel

LANES = 20


def lane_names() -> list[str]:
    return [f"push{lane}" for lane in range(LANES)]


def lanes_for(share: float) -> list[str]:
    """The push lanes a fault on `share` of the clients acts on (at least one)."""
    return lane_names()[: max(1, round(share * LANES))]


class Routes(BaseModel):
    """Base URLs for a run's clients; without faults every one is the backend's own."""

    http_url: str
    push_urls: list[str] = []

    @classmethod
    def direct(cls, url: str) -> Routes:
        return cls(http_url=url)

    def push(self, index: int, total: int) -> str:
        """The base URL of the push connection of a group's `index`-th client of `total`."""
        if not self.push_urls:
            return self.http_url
        lane = int((index + 0.5) / max(total, 1) * len(self.push_urls))
        return self.push_urls[min(lane, len(self.push_urls) - 1)]
