"""Settings of the bundled backend: environment variables `WASIM_*`, or `wasim serve` options."""

from __future__ import annotations

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
    frontend_origin: str = "http://localhost:3000"
    max_body_bytes: int = defaults.MAX_WEBHOOK_BYTES

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
