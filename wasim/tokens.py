"""Minting JWTs for backends that authenticate users with one (the bundled backend does)."""

from __future__ import annotations

import time
import warnings

import jwt
import jwt.warnings

from wasim import defaults
from wasim.errors import ConfigError

# PyJWT warns, with its own file path, when an HMAC secret is shorter than the hash; wasim only
# mints what the backend under test accepts, so that advice is for the backend, not for wasim.
_SHORT_KEY: type[Warning] = getattr(jwt.warnings, "InsecureKeyLengthWarning", UserWarning)


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", _SHORT_KEY)
            return jwt.encode(payload, secret, algorithm=algorithm)
    except (NotImplementedError, jwt.PyJWTError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot mint a {algorithm} token: {exc}") from None
