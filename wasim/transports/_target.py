"""Turning a refused or failed connection into one clear WasimError."""

from __future__ import annotations

import json

import httpx

from wasim.errors import AuthError, ProtocolError, TargetError, WasimError


def reason_in(body: str) -> str:
    """The server's own words from an error body (`{"detail"|"message"|"error": …}`), if any."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(parsed, dict):
        for key in ("message", "detail", "error", "reason"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])
    return body.strip()[:200]


def refused(url: str, status: int, body: str = "", what: str = "", thing: str = "") -> WasimError:
    """The error for a refused request; `thing` names what should be there (a 404 says "no
    WebSocket at …"), `what` what a 403 probably means."""
    reason = reason_in(body) if body else ""
    suffix = f": {reason}" if reason else ""
    if status == 401:
        return AuthError(f"{url} refused the token (HTTP 401){suffix}")
    if status == 403:
        hint = what or "bad token"
        return AuthError(f"{url} refused the connection (HTTP 403, {hint}){suffix}")
    if status == 404:
        if thing:
            return ProtocolError(f"no {thing} at {url} (HTTP 404)")
        return ProtocolError(f"nothing at {url} (HTTP 404): wrong path?")
    return ProtocolError(f"{url} answered HTTP {status}{suffix}")


def unreachable(url: str, exc: BaseException) -> TargetError:
    detail = str(exc) or type(exc).__name__
    return TargetError(f"cannot reach {url}: {detail}")


async def diagnose(url: str, timeout: float, thing: str = "") -> WasimError:
    """Find out why a connection to `url` failed when the client library would not say."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return unreachable(url, exc)
    if response.status_code >= 400:
        return refused(url, response.status_code, response.text, thing=thing)
    return ProtocolError(f"{url} did not accept the connection")
