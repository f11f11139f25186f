"""Before traffic starts: each user's token, the setup requests, and the backend's counters."""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from wasim.bench.scenario import Auth, Scenario, SetupRequest
from wasim.correlate import at_path
from wasim.errors import AuthError, ConfigError, ProtocolError, TargetError
from wasim.tokens import mint_token

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


class ContactSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    phone: str
    name: str


class Prepared(BaseModel):
    """What the clients and the traffic need to know about each user (sent as JSON to the
    listener processes)."""

    users: list[str]
    tokens: dict[str, str]
    contacts: dict[str, list[ContactSpec]]
    captured: dict[str, dict[str, Any]] = Field(default_factory=dict)
    everyone: list[str] = Field(
        default_factory=list,
        description="every user of the scenario when `users` are one shard's (clients and "
        "phones are numbered over them all)",
    )

    def population(self) -> list[str]:
        """Every user of the run, this shard's or not, in the scenario's order."""
        return self.everyone or self.users

    def open_phones(self) -> dict[str, str]:
        """Each user's open chat: the phone of its first contact."""
        return {user: contacts[0].phone for user, contacts in self.contacts.items()}

    def owner_of(self) -> dict[str, str]:
        return {c.phone: user for user, contacts in self.contacts.items() for c in contacts}

    def open_conversation(self) -> dict[str, str | int | None]:
        """Each user's open chat, as the first setup call captured it (integer or string)."""
        opened: dict[str, str | int | None] = {}
        for user in self.users:
            value = self.captured.get(user, {}).get("conversation_id")
            ok = isinstance(value, int | str) and not isinstance(value, bool)
            opened[user] = value if ok else None
        return opened


def contacts_for(scenario: Scenario, users: list[str]) -> dict[str, list[ContactSpec]]:
    """Distinct phones per user, so each inbound message has exactly one owner."""
    per = scenario.users.contacts_per_user
    return {
        user: [
            ContactSpec(phone=f"5215{u + 1:05d}{c + 1:03d}", name=f"Contact {u + 1}-{c + 1}")
            for c in range(per)
        ]
        for u, user in enumerate(users)
    }


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill `{name}` placeholders; a string that is exactly one placeholder keeps its type."""
    if isinstance(template, dict):
        return {key: render(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, values) for value in template]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return _value(whole.group(1), values)
    return _PLACEHOLDER.sub(lambda m: str(_value(m.group(1), values)), template)


def _value(name: str, values: dict[str, Any]) -> Any:
    if name not in values:
        known = ", ".join(sorted(values))
        raise ConfigError(f"unknown placeholder {{{name}}} in a setup body (known: {known})")
    return values[name]


async def request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    token: str | None,
    body: Any = None,
    etag: str | None = None,
) -> httpx.Response:
    """The backend's answer, with `token` as a Bearer header; TargetError when unreachable."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if etag is not None:
        headers["If-None-Match"] = etag
    try:
        return await http.request(method, url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {url}: {exc or type(exc).__name__}") from None


def json_of(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


async def request_json(
    http: httpx.AsyncClient, method: str, url: str, token: str | None, body: Any
) -> Any:
    response = await request(http, method, url, token, body)
    if response.status_code in (401, 403):
        raise AuthError(f"{method} {url} refused the token (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise ProtocolError(f"{method} {url} answered HTTP {response.status_code}")
    return json_of(response)


async def token_of(http: httpx.AsyncClient, base_url: str, auth: Auth, user: str) -> str:
    if auth.tokens is not None:
        if user not in auth.tokens:
            raise ConfigError(f"auth.tokens has no token for user {user!r}")
        return auth.tokens[user]
    if auth.login is not None:
        login = auth.login
        body = render(login.body, {"user": user})
        answer = await request_json(http, login.method, base_url + login.path, None, body)
        token = at_path(answer, login.token)
        if not isinstance(token, str):
            raise ProtocolError(f"the login answer for {user} has no token at {login.token!r}")
        return token
    return mint_token(
        user,
        secret=auth.jwt_secret,
        claim=auth.claim,
        algorithm=auth.algorithm,
        expires_in=auth.expires_in,
    )


async def set_up(
    scenario: Scenario, base_url: str, http: httpx.AsyncClient, users: list[str] | None = None
) -> Prepared:
    """Tokens for every user (or only `users`, a shard's), then the setup requests per user
    and per contact."""
    everyone = scenario.users.user_names()
    mine = everyone if users is None else users
    tokens = {user: await token_of(http, base_url, scenario.auth, user) for user in mine}
    contacts = contacts_for(scenario, everyone)
    prepared = Prepared(
        users=mine,
        tokens=tokens,
        contacts={user: contacts[user] for user in mine},
        everyone=everyone if users is not None else [],
    )
    for user in mine:
        values: dict[str, Any] = {"user": user}
        for request in scenario.setup:
            targets = prepared.contacts[user] if request.per == "contact" else [None]
            for contact in targets:
                if contact is not None:
                    values.update({"contact.phone": contact.phone, "contact.name": contact.name})
                await _setup(http, base_url, request, tokens[user], values)
        prepared.captured[user] = values
    return prepared


async def _setup(
    http: httpx.AsyncClient,
    base_url: str,
    request: SetupRequest,
    token: str,
    values: dict[str, Any],
) -> None:
    body = render(request.body, values) if request.body is not None else None
    answer = await request_json(http, request.method, base_url + request.path, token, body)
    for name, path in request.capture.items():
        found = at_path(answer, path)
        if found is None:
            raise ProtocolError(f"setup {request.method} {request.path}: no {path!r} to capture")
        # The first captured value (the first contact's) stays, e.g. the open conversation.
        values.setdefault(name, found)
