"""Settings of the bundled backend: environment variables `WASIM_*`, or `wasim serve` options."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from wasim import defaults


class Settings(BaseSettings):
    """Every secret, path and event name the backend uses; all have documented dev defaults."""

    model_config = SettingsConfigDict(env_prefix="WASIM_", extra="ignore")

    app_secret: str = Field(defaults.APP_SECRET, repr=False)
    verify_token: str = Field(defaults.VERIFY_TOKEN, repr=False)
    jwt_secret: str = Field(defaults.JWT_SECRET, repr=False)
    jwt_algorithm: str = defaults.JWT_ALGORITHM
    jwt_claim: str = defaults.JWT_CLAIM
    database_url: str = "sqlite+aiosqlite:///wasim.db"
    redis_url: str | None = None
    redis_channel: str = "wasim:events"
    default_owner: str = defaults.DEFAULT_OWNER
    # Comma-separated: the origins CORS allows and the WebSocket routes accept.
    frontend_origin: str = "http://localhost:3000,http://127.0.0.1:3000"
    max_body_bytes: int = defaults.MAX_WEBHOOK_BYTES
    max_polling_body_bytes: int = 1_000_000  # an Engine.IO long-polling POST; 413 over it

    # Push connections (Socket.IO, SSE and WebSocket together), per worker.
    max_connections: Annotated[int, Field(ge=1)] = 10_000
    max_connections_per_user: Annotated[int, Field(ge=1)] = 100
    # Events a connection may have waiting to be sent; one more and it is dropped.
    max_buffered_events: Annotated[int, Field(ge=1)] = 1_000
    send_timeout: Annotated[float, Field(gt=0)] = 10.0  # seconds one send may take
    max_token_lifetime: Annotated[float, Field(gt=0)] = 86_400.0  # seconds from now to exp

    webhook_path: str = defaults.WEBHOOK_PATH
    conversations_path: str = defaults.CONVERSATIONS_PATH
    contacts_path: str = defaults.CONTACTS_PATH
    stream_path: str = defaults.STREAM_PATH
    ws_path: str = defaults.WS_PATH
    socketio_path: str = defaults.SOCKETIO_PATH

    event_new_message: str = defaults.EVENT_NEW_MESSAGE
    event_conversation_updated: str = defaults.EVENT_CONVERSATION_UPDATED
    event_message_status: str = defaults.EVENT_MESSAGE_STATUS

    sse_heartbeat_seconds: float = 15.0
    log_level: str = "info"

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.frontend_origin.split(",") if o.strip()]
