"""Meta's GET handshake, driven against a target: echo the challenge, refuse a wrong token."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from wasim.errors import ConfigError, TargetError

# Answers that say nothing listens at this path (or not to GET), rather than a refused token.
NO_ROUTE = (404, 405)


@dataclass(frozen=True)
class VerifyResult:
    """The verdict of one handshake check."""

    url: str
    status_code: int
    echoed: bool
    wrong_token_status: int

    @property
    def accepted(self) -> bool:
        return self.status_code == 200 and self.echoed

    @property
    def refuses_wrong_token(self) -> bool:
        return self.wrong_token_status != 200

    @property
    def ok(self) -> bool:
        return self.accepted and self.refuses_wrong_token

    @property
    def verdict(self) -> str:
        if self.ok:
            return "verified: the challenge was echoed and a wrong token was refused"
        if self.status_code in NO_ROUTE:
            return f"no webhook here (HTTP {self.status_code}): is the path right?"
        if self.status_code != 200:
            return f"refused the verify token given with HTTP {self.status_code}: is it right?"
        if not self.echoed:
            return "answered 200 but did not echo the challenge byte for byte"
        return f"accepted a wrong verify token (HTTP {self.wrong_token_status})"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "verdict": self.verdict}


async def verify(url: str, verify_token: str, *, timeout: float = 10.0) -> VerifyResult:
    """Send the subscribe GET with a random challenge, then again with a wrong token."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"URL must start with http:// or https://: {url!r}")
    challenge = str(secrets.randbelow(9 * 10**9) + 10**9)  # an int, as the Graph docs show
    wrong = verify_token + "-" + secrets.token_hex(4)
    import httpx  # here: a fifth of a second to import, which `wasim send` need not pay

    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            right = await client.get(url, params=_params(verify_token, challenge))
            refused = await client.get(url, params=_params(wrong, challenge))
    except httpx.TimeoutException:
        raise TargetError(f"{url} did not answer within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {url}: {exc or type(exc).__name__}") from None
    return VerifyResult(
        url=url,
        status_code=right.status_code,
        echoed=right.content == challenge.encode("ascii"),
        wrong_token_status=refused.status_code,
    )


def _params(token: str, challenge: str) -> dict[str, str]:
    return {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": challenge}
