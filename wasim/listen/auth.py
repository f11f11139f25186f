"""Who listens, with which token: one token, a tokens file, or one minted JWT per user."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jwt

from wasim import defaults
from wasim.errors import ConfigError
from wasim.tokens import mint_token


@dataclass(frozen=True)
class Credential:
    user: str
    token: str


def user_names(user: str, users: int | None, prefix: str = "user") -> list[str]:
    """`--user demo` alone, or `--users N`: user1 … userN."""
    if users is None:
        return [user]
    if users < 1:
        raise ConfigError("--users must be at least 1")
    return [f"{prefix}{n}" for n in range(1, users + 1)]


def claim_of(token: str, claim: str) -> str | None:
    """The user a token names, read without checking its signature (only to label output)."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    value = payload.get(claim)
    return str(value) if value is not None else None


def read_tokens_file(path: Path, claim: str = defaults.JWT_CLAIM) -> list[Credential]:
    """One token a line, optionally `user token` or `user,token`; `#` starts a comment."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read tokens file {path}: {exc.strerror}") from None
    found: list[Credential] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) > 2:
            raise ConfigError(f"{path}:{number}: expected `token` or `user token`")
        token = parts[-1]
        user = parts[0] if len(parts) == 2 else claim_of(token, claim) or f"token{number}"
        found.append(Credential(user, token))
    if not found:
        raise ConfigError(f"tokens file {path} holds no token")
    return found


def credentials(
    *,
    user: str = defaults.DEFAULT_OWNER,
    users: int | None = None,
    token: str | None = None,
    tokens_file: Path | None = None,
    jwt_secret: str = defaults.JWT_SECRET,
    claim: str = defaults.JWT_CLAIM,
    algorithm: str = defaults.JWT_ALGORITHM,
    expires_in: float | None = 3600.0,
) -> list[Credential]:
    """The users to listen as; exactly one way of getting their tokens applies."""
    if token is not None and tokens_file is not None:
        raise ConfigError("give --token or --tokens-file, not both")
    if tokens_file is not None:
        return read_tokens_file(tokens_file, claim)
    if token is not None:
        if users is not None:
            raise ConfigError(
                "--token is one user's; use --jwt-secret or --tokens-file with --users"
            )
        return [Credential(claim_of(token, claim) or user, token)]
    return [
        Credential(
            name,
            mint_token(
                name, secret=jwt_secret, claim=claim, algorithm=algorithm, expires_in=expires_in
            ),
        )
        for name in user_names(user, users)
    ]
