"""Minting JWTs for backends that authenticate users with one (the bundled backend does)."""

from __future__ import annotations

import time

import jwt

from wasim import defaults
from wasim.errors import ConfigError


def mint_token(
    user: str,
    *,
    secret: str = defaults.JWT_SECRET,
    claim: str = defaults.JWT_CLAIM,
    algorithm: str = defaults.JWT_ALGORITHM,
    expires_in: float | None = 3600.0,
) -> str:
    """Return a signed JWT whose `claim` names `user`, valid for `expires_in` seconds."""
    now = int(time.time())
    payload: dict[str, object] = {claim: user, "iat": now}
    if expires_in is not None:
        payload["exp"] = now + int(expires_in)
    try:
        return jwt.encode(payload, secret, algorithm=algorithm)
    except (NotImplementedError, jwt.PyJWTError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot mint a {algorithm} token: {exc}") from None
