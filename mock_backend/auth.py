"""JWT checks for every transport; each refusal carries a reason safe to show the client."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from mock_backend.settings import Settings


class Refused(Exception):
    """The token was refused; `str(exc)` is the reason (never the token)."""


@dataclass(frozen=True)
class Identity:
    user: str
    expires_at: float


def authenticate(token: str | None, settings: Settings) -> Identity:
    """The user a token names, or `Refused` with why."""
    if not token:
        raise Refused("missing token")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["exp"]},
        )
    except jwt.MissingRequiredClaimError:
        # A token without `exp` would hold its streams open forever.
        raise Refused("token has no exp claim") from None
    except jwt.ExpiredSignatureError:
        raise Refused("token expired") from None
    except jwt.InvalidSignatureError:
        raise Refused("bad token signature") from None
    except jwt.InvalidAlgorithmError:
        raise Refused(f"token algorithm not allowed (expected {settings.jwt_algorithm})") from None
    except jwt.PyJWTError:
        raise Refused("malformed token") from None
    user = claims.get(settings.jwt_claim)
    if not isinstance(user, str | int) or isinstance(user, bool) or str(user) == "":
        raise Refused(f"token has no {settings.jwt_claim} claim")
    expires_at = float(claims["exp"])  # PyJWT checked it is a number in the future
    lifetime = settings.max_token_lifetime
    if expires_at - time.time() > lifetime:
        raise Refused(f"token expires more than {lifetime:g} s from now")
    return Identity(str(user), expires_at)


def bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None
