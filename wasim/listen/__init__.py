"""`wasim listen` as a library: many authenticated listeners, a live tail, and a summary."""

from wasim.listen.auth import Credential, credentials
from wasim.listen.runner import ListenOptions, listen
from wasim.listen.summary import Summary

__all__ = ["Credential", "ListenOptions", "Summary", "credentials", "listen"]
