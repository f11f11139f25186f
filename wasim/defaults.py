"""Documented development defaults shared by `wasim serve` and every client command.

These are dev values, printed by `wasim serve`; never use them for a real deployment.
"""

from __future__ import annotations

HOST = "127.0.0.1"
PORT = 8000
BASE_URL = f"http://{HOST}:{PORT}"

APP_SECRET = "wasim-dev-app-secret"
VERIFY_TOKEN = "wasim-dev-verify-token"
JWT_SECRET = "wasim-dev-jwt-secret-not-for-production"
JWT_ALGORITHM = "HS256"
JWT_CLAIM = "userId"
DEFAULT_OWNER = "demo"

WEBHOOK_PATH = "/api/whatsapp/webhook"
CONVERSATIONS_PATH = "/api/whatsapp/conversations"
CONTACTS_PATH = "/api/whatsapp/contacts"
STREAM_PATH = "/api/whatsapp/stream"
WS_PATH = "/api/whatsapp/ws"
SOCKETIO_PATH = "/socket.io"

EVENT_NEW_MESSAGE = "new_message"
EVENT_CONVERSATION_UPDATED = "conversation_updated"
EVENT_MESSAGE_STATUS = "message_status"
EVENTS = (EVENT_NEW_MESSAGE, EVENT_CONVERSATION_UPDATED, EVENT_MESSAGE_STATUS)
# Sent instead of a replay when a client resumes from an id the log does not have: reload.
EVENT_RESET = "reset"

# Meta's documented maximum webhook payload.
MAX_WEBHOOK_BYTES = 3 * 1024 * 1024
