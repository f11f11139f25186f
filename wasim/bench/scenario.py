"""Bench scenarios: what to run, as validated pydantic models loaded from TOML.

A scenario names the backend (a URL, or `spawn = true` for the bundled one), how users
authenticate, the setup requests that create their conversations, the users and contacts,
the webhook traffic, the client groups (one column each in the report), the load generator
(how many listener processes, when its own timings are suspect) and the thresholds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from wasim import defaults
from wasim.errors import ConfigError
from wasim.transports.config import PollConfig
from wasim.units import parse_duration
from wasim.workers import default_processes

Kind = Literal["poll", "poll-optimized", "socketio", "sse", "ws", "hybrid"]
POLL_KINDS = ("poll", "poll-optimized")


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ConfigError as exc:  # pydantic reports a ValueError as the field's problem
        raise ValueError(str(exc).removeprefix("a duration ")) from None


Duration = Annotated[float, BeforeValidator(_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RestartCommands(_Model):
    """How a `restart` fault stops and starts a backend wasim did not spawn (shell commands,
    each run to its end; then wasim waits until the backend's port accepts connections)."""

    stop: str
    start: str


class Backend(_Model):
    """Where the webhooks go: a running backend's URL, or the bundled one spawned for the run."""

    url: str | None = None
    spawn: bool = False
    webhook_path: str = defaults.WEBHOOK_PATH
    app_secret: str = defaults.APP_SECRET
    verify_token: str = defaults.VERIFY_TOKEN
    metrics_path: str | None = "/metrics"
    env: dict[str, str] = Field(default_factory=dict)
    restart: RestartCommands | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Backend:
        if self.url is None and not self.spawn:
            raise ValueError("give either url = '...' or spawn = true")
        if self.url is not None and self.spawn:
            raise ValueError("url and spawn = true exclude each other")
        return self


class LoginRequest(_Model):
    """One request per user whose JSON response holds the user's token."""

    method: str = "POST"
    path: str
    body: dict[str, Any] = Field(default_factory=dict)
    token: str = "token"


class Auth(_Model):
    """JWT minted locally (default), fixed tokens per user, or a login request per user."""

    jwt_secret: str = defaults.JWT_SECRET
    claim: str = defaults.JWT_CLAIM
    algorithm: str = defaults.JWT_ALGORITHM
    expires_in: Duration = 3600.0
    tokens: dict[str, str] | None = None
    login: LoginRequest | None = None


class SetupRequest(_Model):
    """A request made once per user or per contact before traffic starts.

    `body` strings are templates: `{user}`, `{contact.phone}`, `{contact.name}`, and any
    value captured earlier; `capture` maps a name to a dotted path in the JSON response.
    """

    per: Literal["user", "contact"] = "contact"
    method: str = "POST"
    path: str
    body: dict[str, Any] | None = None
    capture: dict[str, str] = Field(default_factory=dict)


class Match(_Model):
    """How what a client receives is matched to what was sent.

    By default every string in a push event or poll response is looked up among the ids this
    run sent, and every text and caption carries a short marker (`#K7QF2M`) found the same
    way, for backends that show only the text. `id_paths` (dotted, e.g. `message.id`) makes
    matching look only there: exact and cheaper.
    """

    id_paths: list[str] = Field(default_factory=list)
    marker: bool = True


class Users(_Model):
    count: int = Field(default=10, ge=1, le=10_000)
    names: list[str] | None = None
    prefix: str = "user"
    contacts_per_user: int = Field(default=1, ge=1, le=100)

    def user_names(self) -> list[str]:
        if self.names:
            return list(self.names)
        return [f"{self.prefix}{index + 1}" for index in range(self.count)]


class Traffic(_Model):
    """Webhook traffic on an open-model schedule: `rate` messages per second."""

    rate: float = Field(default=1.0, gt=0, le=10_000)
    duration: Duration | None = None
    count: int | None = Field(default=None, ge=1)
    warmup: Duration = 0.0
    drain: Duration | None = None
    mix: dict[str, float] = Field(default_factory=lambda: {"text": 1.0})
    batch: int = Field(default=1, ge=1, le=100)
    duplicates: float = Field(default=0.0, ge=0, le=1)
    meta_style: bool = True
    seed: int | None = None

    @model_validator(mode="after")
    def _length(self) -> Traffic:
        if (self.duration is None) == (self.count is None):
            raise ValueError("give exactly one of duration or count")
        return self

    @property
    def messages(self) -> int:
        if self.count is not None:
            return self.count
        return max(1, round((self.duration or 0.0) * self.rate))


class ClientGroup(_Model):
    """One client per user (or `per_user`) of one kind; its figures make one report column.

    A `hybrid` client holds a Socket.IO connection and polls the conversation list every
    `fallback_interval` only while push has been down for `fallback_after` (the seed's design);
    `fallback = "always"` polls all the time beside push instead.
    """

    kind: Kind
    name: str | None = None
    per_user: int = Field(default=1, ge=1, le=100)
    list_interval: Duration | None = None
    list_pollers: int | None = Field(default=None, ge=0, le=10)
    detail_interval: Duration | None = None
    etag: bool | None = None
    hidden_share: float | None = Field(default=None, ge=0, le=1)
    fallback_interval: Duration = 30.0
    fallback_after: Duration = 10.0
    fallback: Literal["when-down", "always"] = "when-down"
    conversations_path: str = defaults.CONVERSATIONS_PATH
    list_field: str | None = None
    id_field: str = "id"
    detail_path: str | None = None
    messages_field: str | None = None
    stream_path: str = defaults.STREAM_PATH
    ws_path: str = defaults.WS_PATH
    socketio_path: str = defaults.SOCKETIO_PATH
    auth_field: str = "token"
    token_in: Literal["header", "query"] = "header"

    @property
    def label(self) -> str:
        return self.name or self.kind

    @property
    def polling(self) -> PollConfig | None:
        """The polling pattern of this group: its kind's defaults, then the group's values."""
        if self.kind == "poll":
            base = PollConfig()
        elif self.kind == "poll-optimized":
            base = PollConfig.optimized()
        elif self.kind == "hybrid":
            base = PollConfig.fallback(self.fallback_interval)
        else:
            return None
        given: dict[str, Any] = {
            "list_interval": self.list_interval,
            "list_pollers": self.list_pollers,
            "detail_interval": self.detail_interval,
            "etag": self.etag,
            "hidden_share": self.hidden_share,
        }
        return replace(base, **{k: v for k, v in given.items() if v is not None})


FaultKind = Literal["slow", "drop", "blackhole", "restart", "webhook_errors"]
_FAULT_KEYS: dict[str, tuple[str, ...]] = {
    "slow": ("latency", "jitter", "bandwidth"),
    "drop": ("share", "connections"),
    "blackhole": ("share", "connections"),
    "restart": (),
    "webhook_errors": ("share", "answer"),
}


class Fault(_Model):
    """A fault injected `start` after the traffic's first POST, for `duration`.

    `slow`, `drop` and `blackhole` act on the link between the clients and the backend (a
    proxy wasim puts in front of it); `restart` stops and starts the backend itself.
    """

    kind: FaultKind
    name: str | None = None
    start: Duration
    duration: Duration = Field(ge=0)
    latency: Duration | None = None
    jitter: Duration | None = None
    bandwidth: float | None = Field(default=None, gt=0)
    share: float | None = Field(default=None, gt=0, le=1)
    connections: Literal["push", "all"] | None = None
    answer: Literal["500", "timeout"] | None = None

    @model_validator(mode="after")
    def _keys_of_kind(self) -> Fault:
        allowed = _FAULT_KEYS[self.kind]
        for key in ("latency", "jitter", "bandwidth", "share", "connections", "answer"):
            if getattr(self, key) is not None and key not in allowed:
                kinds = [kind for kind, keys in _FAULT_KEYS.items() if key in keys]
                raise ValueError(f"{key} applies to {', '.join(kinds)} faults, not {self.kind}")
        if self.kind == "slow" and not (self.latency or self.jitter or self.bandwidth):
            raise ValueError("a slow fault needs latency, jitter or bandwidth")
        return self


class Load(_Model):
    """The load generator: its listener processes, and the limits past which it is saturated.

    `processes` spreads the clients over that many child processes (one: this process); by
    default one per `wasim.workers.CLIENTS_PER_PROCESS` clients, at most one per core.
    `max_loop_lag` (p99) and `max_cpu` (% of one core) apply to each listener process,
    `max_machine_cpu` (% of all cores) to the whole machine: past any of them the run is
    marked suspect.
    """

    processes: int | None = Field(default=None, ge=1, le=256)
    max_loop_lag: Duration = 0.025
    max_cpu: float = Field(default=90.0, ge=0)
    max_machine_cpu: float = Field(default=90.0, ge=0, le=100)


class Scenario(_Model):
    """A whole bench run; see `scenarios/seed.toml` for every field in use."""

    name: str = "scenario"
    description: str = ""
    backend: Backend = Field(default_factory=lambda: Backend(spawn=True))
    auth: Auth = Field(default_factory=Auth)
    setup: list[SetupRequest] = Field(
        default_factory=lambda: [
            SetupRequest(
                path=defaults.CONVERSATIONS_PATH,
                body={"contact_phone": "{contact.phone}", "contact_name": "{contact.name}"},
                capture={"conversation_id": "id"},
            )
        ]
    )
    users: Users = Field(default_factory=Users)
    traffic: Traffic = Field(default_factory=lambda: Traffic(duration=30.0))
    clients: list[ClientGroup] = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    load: Load = Field(default_factory=Load)
    thresholds: list[str] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)

    def fault_names(self) -> list[str]:
        """Each fault's label: its `name`, else its kind (numbered when the kind repeats)."""
        kinds = [fault.kind for fault in self.faults]
        names = []
        for index, fault in enumerate(self.faults):
            nth = kinds[: index + 1].count(fault.kind)
            numbered = f"{fault.kind}{nth}" if kinds.count(fault.kind) > 1 else fault.kind
            names.append(fault.name or numbered)
        return names

    @property
    def client_count(self) -> int:
        """Simulated clients in all groups (browser tabs, hidden ones included)."""
        return len(self.users.user_names()) * sum(group.per_user for group in self.clients)

    def listener_processes(self, override: int | None = None, users: int | None = None) -> int:
        """How many listener processes to run: `override`, `load.processes`, or the default;
        never more than there are clients (of `users` users, a shard's, when given)."""
        clients = self.client_count
        if users is not None:
            clients = users * sum(group.per_user for group in self.clients)
        wanted = override or self.load.processes or default_processes(clients)
        return max(1, min(wanted, clients))

    @model_validator(mode="after")
    def _unique_labels(self) -> Scenario:
        labels = [group.label for group in self.clients]
        duplicated = sorted({label for label in labels if labels.count(label) > 1})
        if duplicated:
            raise ValueError(f"client group names must differ: {', '.join(duplicated)}")
        return self

    @model_validator(mode="after")
    def _faults_can_run(self) -> Scenario:
        names = self.fault_names()
        if len(set(names)) < len(names):
            raise ValueError("fault names must differ")
        return self

    def unrestartable(self) -> int | None:
        """The index of a `restart` fault that cannot run (a url backend without commands)."""
        if self.backend.url is None or self.backend.restart is not None:
            return None
        kinds = [fault.kind for fault in self.faults]
        return kinds.index("restart") if "restart" in kinds else None
