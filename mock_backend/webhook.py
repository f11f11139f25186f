"""The webhook: Meta's GET handshake and the signed POST, checked before anything is parsed."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from fastapi import Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from mock_backend.parse import parse_webhook
from mock_backend.state import backend_of

log = logging.getLogger("mock_backend.webhook")
SIGNATURE_HEADER = "x-hub-signature-256"


async def verify_webhook(
    request: Request,
    mode: str = Query("", alias="hub.mode"),
    verify_token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> Response:
    """Meta's subscription handshake: echo the challenge when the verify token matches."""
    expected = backend_of(request).settings.verify_token
    if mode == "subscribe" and hmac.compare_digest(verify_token.encode(), expected.encode()):
        return PlainTextResponse(challenge)
    return PlainTextResponse("verification failed", status_code=403)


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """`sha256=<hex HMAC of the raw bytes>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[7:].strip().lower().encode(), expected.encode())


async def receive_webhook(request: Request) -> Response:
    """Signed ingest: 401 bad signature, 413 oversize, 400 not a JSON object, else store + 200."""
    backend = backend_of(request)
    outcome = backend.metrics.webhooks
    limit = backend.settings.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        outcome.labels("too_large").inc()
        return _error(413, f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            outcome.labels("too_large").inc()
            return _error(413, f"body over {limit} bytes")
    raw = bytes(body)
    secret = backend.settings.app_secret
    if not signature_ok(raw, request.headers.get(SIGNATURE_HEADER), secret):
        outcome.labels("bad_signature").inc()
        return _error(401, "missing or bad X-Hub-Signature-256")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        outcome.labels("malformed").inc()
        return _error(400, "body is not a JSON object")
    parsed = parse_webhook(doc)
    backend.metrics.webhook_errors.inc(parsed.errors)
    if parsed.items:
        try:
            await backend.writer.ingest(parsed.items)
        except Exception:
            # Not 200: Meta will deliver it again, so nothing is lost.
            outcome.labels("storage_failed").inc()
            return _error(503, "could not store the webhook; retry")
    outcome.labels("stored" if parsed.items else "ignored").inc()
    return JSONResponse({"status": "ok"})
