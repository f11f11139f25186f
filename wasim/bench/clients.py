"""The bench's simulated clients: each is one or more listeners of one user, in one group.

A `hybrid` client is `wasim listen`'s hybrid listener: Socket.IO, and a slow list poll only while
push is down (or, with `fallback = "always"`, a poller beside push all the time); it holds a
message as soon as either shows it, which is what the measurement takes (first seen per client).
Cost is what the transports count themselves: every HTTP request and WebSocket or Socket.IO
upgrade (each connect attempt is one), and the bytes received on the wire or in frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import httpx

from wasim.bench.scenario import ClientGroup
from wasim.faults.routes import Routes
from wasim.transports._push import PushListener
from wasim.transports.base import Listener
from wasim.transports.config import ListenerConfig, PollConfig
from wasim.transports.factory import make_listener
from wasim.transports.hybrid import HybridListener

COUNTERS = ("requests", "bytes", "not_modified", "etags", "errors", "reconnects")


@dataclass
class Client:
    """One simulated browser tab: a user, its group, and the listeners it uses."""

    id: str
    group: str
    kind: str
    user: str
    visible: bool
    listeners: list[Listener] = field(default_factory=list)
    meters: list[Listener] = field(default_factory=list)
    failed: str | None = None  # why it could not connect

    def counters(self) -> dict[str, int]:
        """Cumulative cost, as counted by the transports (`meters`, else `listeners`)."""
        totals = dict.fromkeys(COUNTERS, 0)
        for listener in self.meters or self.listeners:
            stats = listener.stats
            totals["requests"] += stats.requests
            totals["bytes"] += stats.bytes_received
            totals["not_modified"] += stats.not_modified
            totals["etags"] += stats.etags
            totals["errors"] += stats.errors
            totals["reconnects"] += stats.reconnects
        return totals


def listener_config(group: ClientGroup, base_url: str, user: str, token: str) -> ListenerConfig:
    """The transport settings of a group, with its paths and where things sit in answers.

    Every event is kept whatever its name: what it carries decides whether it delivered a
    message (`wasim.correlate`), so a backend's own event names need no configuration.
    """
    return ListenerConfig(
        base_url=base_url,
        token=token,
        user=user,
        events=(),
        socketio_path=group.socketio_path,
        auth_field=group.auth_field,
        token_in=group.token_in,
        stream_path=group.stream_path,
        ws_path=group.ws_path,
        conversations_path=group.conversations_path,
        poll=PollConfig(
            list_field=group.list_field,
            id_field=group.id_field,
            detail_path=group.detail_path,
            messages_field=group.messages_field,
        ),
    )


def build_clients(
    group: ClientGroup,
    base_url: str,
    users: list[str],
    tokens: dict[str, str],
    open_conversation: dict[str, str | int | None],
    http: httpx.AsyncClient,
    part: int = 0,
    parts: int = 1,
    routes: Routes | None = None,
    everyone: list[str] | None = None,
) -> list[Client]:
    """The clients of a group: `per_user` for each user, the first share of them hidden; of
    those, every `parts`-th from `part` on (one listener process's share). With `everyone`
    (a shard), clients are numbered and hidden over all the run's users, and those of `users`
    kept. `routes` says which proxy link each client's push and polling go over (see
    `wasim.faults.routes`)."""
    routes = routes or Routes.direct(base_url)
    plan = group.polling
    population = everyone or users
    total = len(population) * group.per_user
    hidden = round(total * plan.hidden_share) if plan is not None else 0
    mine = set(users)
    numbers = [i for i in range(total) if population[i % len(population)] in mine]
    clients: list[Client] = []
    for index in numbers[part::parts]:
        user = population[index % len(population)]
        visible = index >= hidden
        config = listener_config(group, routes.http_url, user, tokens[user])
        pushed = replace(config, base_url=routes.push(index, total))
        client = Client(f"{group.label}:{user}:{index}", group.label, group.kind, user, visible)
        if group.kind == "hybrid" and group.fallback == "when-down":
            hybrid = _hybrid(group, pushed, routes.http_url)
            client.listeners, client.meters = [hybrid], [hybrid.push, hybrid.poller]
            clients.append(client)
            continue
        if group.kind in ("socketio", "sse", "ws", "hybrid"):
            push = "socketio" if group.kind == "hybrid" else group.kind
            client.listeners.append(make_listener(push, pushed, http))
        if plan is not None:
            poll = replace(
                config.poll,
                list_interval=plan.list_interval,
                list_pollers=plan.list_pollers,
                detail_interval=plan.detail_interval,
                conversation_id=open_conversation.get(user),
                etag=plan.etag,
                hidden=not visible,
            )
            client.listeners.append(make_listener("poll", replace(config, poll=poll), http))
        clients.append(client)
    return clients


def _hybrid(group: ClientGroup, config: ListenerConfig, poll_url: str) -> HybridListener:
    push = make_listener("socketio", config)
    assert isinstance(push, PushListener)
    return HybridListener(push, group.fallback_interval, group.fallback_after, poll_url)
