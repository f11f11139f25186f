"""The seed's WhatsApp page, served at `/`: static HTML and JavaScript (the Socket.IO browser
client vendored in `static/vendor/`), the page's settings, and a dev login.

The dev login mints a token for any user name, so it answers only while the backend signs
tokens with the documented dev secret; with a secret of its own it refuses (403).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from mock_backend.settings import Settings
from mock_backend.state import backend_of
from wasim import defaults
from wasim.tokens import mint_token

STATIC = Path(__file__).parent / "static"
LOGIN_PATH = "/api/dev/login"
DEV_LOGIN_OFF = (
    "dev login is off: this backend signs tokens with its own WASIM_JWT_SECRET; "
    "paste a token it issued instead"
)


class DevLogin(BaseModel):
    user: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@+\-]+$")


def dev_secrets(settings: Settings) -> bool:
    return settings.jwt_secret == defaults.JWT_SECRET


def install(app: FastAPI) -> None:
    """Add the page, its files, its settings and the dev login to `app`."""
    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/inbox/config.json", config, methods=["GET"], tags=["inbox"])
    app.add_api_route(LOGIN_PATH, dev_login, methods=["POST"], tags=["inbox"])
    app.mount("/inbox", StaticFiles(directory=STATIC), name="inbox")


async def page() -> FileResponse:
    """The inbox page."""
    return FileResponse(STATIC / "inbox.html", headers={"Cache-Control": "no-cache"})


async def config(request: Request) -> JSONResponse:
    """What the page needs to reach this backend: paths, event names, whether dev login works."""
    settings = backend_of(request).settings
    return JSONResponse(
        {
            "conversations_path": settings.conversations_path,
            "stream_path": settings.stream_path,
            "ws_path": settings.ws_path,
            "socketio_path": settings.socketio_path,
            "events": {
                "new_message": settings.event_new_message,
                "conversation_updated": settings.event_conversation_updated,
                "message_status": settings.event_message_status,
                "reset": defaults.EVENT_RESET,
            },
            "dev_login": dev_secrets(settings),
            "default_user": settings.default_owner,
        }
    )


async def dev_login(request: Request, body: DevLogin) -> JSONResponse:
    """A token for `user`, valid for an hour, while the dev JWT secret is in use; 403 otherwise."""
    settings = backend_of(request).settings
    if not dev_secrets(settings):
        raise HTTPException(403, DEV_LOGIN_OFF)
    lifetime = min(3600.0, settings.max_token_lifetime)
    token = mint_token(
        body.user,
        secret=settings.jwt_secret,
        claim=settings.jwt_claim,
        algorithm=settings.jwt_algorithm,
        expires_in=lifetime,
    )
    return JSONResponse({"user": body.user, "token": token, "expires_in": lifetime})
