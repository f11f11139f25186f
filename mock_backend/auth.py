"""JWT checks for every transport; each refusal carries a reason safe to show the client."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from mock_backend.settings import Settings


class Refused(Exception):
    """The token was refused; `str(exc)` is the reason (never the token)."""


@dataclass(frozen=True)
class Identity:
    user: str
    expires_at: float | None


def authenticate(token: str | None, settings: Settings) -> Identity:
    """The user a token names, or `Refused` with why."""
    if not token:
        raise Refused("missing token")
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[settings.jwt_algorithm])
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
    exp = claims.get("exp")
    return Identity(str(user), float(exp) if isinstance(exp, int | float) else None)


def bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None
