"""What the probe is told (`ProbeOptions`) and what it found (`ProbeReport`), as pydantic models.

Secrets and tokens are kept on the options (the scenario file needs them) but left out of the
report's JSON.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wasim import defaults
from wasim.bench.scenario import Duration, Endpoints, LoginRequest, SetupRequest
from wasim.correlate import How
from wasim.errors import ConfigError

PushKind = Literal["socketio", "sse", "ws"]
PUSH: tuple[PushKind, ...] = ("socketio", "sse", "ws")
Verdict = Literal["ok", "missing", "warning"]
Carries = Literal["message", "status"]

DEFAULT_SETUP_BODY = '{"contact_phone": "{contact.phone}", "contact_name": "{contact.name}"}'


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeOptions(Endpoints):
    """A backend to probe, how to authenticate to it, and the scenario to write for it."""

    url: str = defaults.BASE_URL
    webhook_path: str = defaults.WEBHOOK_PATH
    app_secret: str = Field(default=defaults.APP_SECRET, exclude=True)
    verify_token: str = Field(default=defaults.VERIFY_TOKEN, exclude=True)
    token: str | None = Field(default=None, exclude=True)
    jwt_secret: str = Field(default=defaults.JWT_SECRET, exclude=True)
    jwt_claim: str = defaults.JWT_CLAIM
    jwt_algorithm: str = defaults.JWT_ALGORITHM
    login: LoginRequest | None = None
    setup: SetupRequest | None = None
    detail_path: str | None = None
    metrics_path: str = "/metrics"
    user: str = "probe1"
    phone: str | None = None
    timeout: Duration = 5.0
    users: int = Field(default=5, ge=1, le=10_000)
    rate: float = Field(default=5.0, gt=0)
    duration: Duration = 5.0
    write: str | None = "scenario.toml"

    @property
    def base(self) -> str:
        return self.url.rstrip("/")

    @classmethod
    def from_cli(
        cls,
        *,
        login_path: str | None = None,
        login_body: str = '{"username": "{user}"}',
        login_token: str = "token",
        setup_path: str | None = defaults.CONVERSATIONS_PATH,
        setup_body: str | None = DEFAULT_SETUP_BODY,
        setup_capture: list[str] | None = None,
        **values: Any,
    ) -> ProbeOptions:
        """Options from command-line text: JSON bodies, `name=path` captures, `5s` durations."""
        try:
            if login_path:
                login = _json_object(login_body, "--login-body")
                values["login"] = LoginRequest(path=login_path, body=login, token=login_token)
            if setup_path:
                capture = dict(_pair(text, "--setup-capture") for text in setup_capture or ())
                body = _json_object(setup_body, "--setup-body") if setup_body else None
                values["setup"] = SetupRequest(path=setup_path, body=body, capture=capture)
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            option = "--" + "-".join(str(part) for part in first["loc"]).replace("_", "-")
            raise ConfigError(f"{option}: {first['msg']}") from None


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{option} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f'{option} must be a JSON object, such as {{"name": "{{user}}"}}')
    return value


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ConfigError(f"{option} takes name=path (conversation_id=id), not {text!r}")
    return name.strip(), path.strip()


class Check(_Model):
    """One line of the verdict: what was tried and what the backend did."""

    name: str
    verdict: Verdict
    detail: str


class EventSeen(_Model):
    """One event name a transport received, its keys, and where the sent id or marker sat."""

    name: str
    count: int
    keys: list[str]
    carries: Carries | None = None
    how: How | None = None
    path: str | None = None


class PushFinding(_Model):
    """One push transport: whether it took the token, and what arrived on it."""

    kind: PushKind
    path: str
    connected: bool
    reason: str | None = None
    refused: bool = False
    events: list[EventSeen] = Field(default_factory=list)
    new_message: str | None = None
    conversation_updated: str | None = None
    message_status: str | None = None

    @property
    def delivers(self) -> bool:
        return self.new_message is not None


class PollFinding(_Model):
    """The polling endpoints: the list's shape, where the message showed, ETag, the detail."""

    path: str
    accepted: bool
    reason: str | None = None
    refused: bool = False
    shape: Literal["array", "object"] | None = None
    list_field: str | None = None
    id_field: str = "id"
    conversation_id: str | int | None = None
    found: str | None = None
    how: How | None = None
    etag: bool = False
    not_modified: bool | None = None
    detail_url: str | None = None
    detail_status: int | None = None
    messages_field: str | None = None
    detail_found: str | None = None

    @property
    def delivers(self) -> bool:
        return self.accepted and (self.found is not None or self.detail_found is not None)


class ProbeReport(_Model):
    """Everything the probe tried and saw; `scenario_text(report)` turns it into a scenario."""

    options: ProbeOptions
    checks: list[Check]
    token_source: str
    phone: str
    wamid: str
    marker: str
    conversation_id: str | int | None = None
    push: list[PushFinding]
    poll: PollFinding
    metrics: bool
    scenario_file: str | None = None
