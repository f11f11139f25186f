"""The bundled reference backend: signed WhatsApp webhooks in, push to every client out."""

from mock_backend.app import create_app
from mock_backend.settings import Settings

__all__ = ["Settings", "create_app"]
