"""wasim: a webhook simulator and load tool for testing real-time delivery of WhatsApp messages."""

__version__ = "0.1.0"
