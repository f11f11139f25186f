"""Which browser origins may open a push connection: the configured front ends, and the
backend's own pages (the inbox at `/` talks to the backend it is served by)."""

from __future__ import annotations

from mock_backend.settings import Settings


def allowed(origin: str, host: str | None, scheme: str, settings: Settings) -> bool:
    """True for a configured origin, or the origin of the server the request came to."""
    if origin in settings.origins:
        return True
    return host is not None and origin == f"{scheme}://{host}"
