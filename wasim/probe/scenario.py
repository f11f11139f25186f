"""The scenario a probe writes: TOML that `wasim bench` runs unchanged, with what the probe saw
in comments next to each setting it explains.

Written by hand (a TOML writer would lose the comments): strings go through `json.dumps`, whose
escapes TOML's basic strings share.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from wasim import defaults
from wasim.probe.models import PollFinding, ProbeOptions, ProbeReport, PushFinding

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_MARKS = {"ok": "✓", "missing": "✗", "warning": "!"}
_DEFAULT_PATHS = {
    "socketio": ("socketio_path", defaults.SOCKETIO_PATH),
    "sse": ("stream_path", defaults.STREAM_PATH),
    "ws": ("ws_path", defaults.WS_PATH),
}
_ROLES = ("new_message", "conversation_updated", "message_status")


def toml_value(value: Any) -> str:
    """One TOML value: string, number, boolean, array or inline table (None values dropped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # TOML wants DEL escaped; json.dumps escapes every other control character.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value if item is not None) + "]"
    if isinstance(value, dict):
        pairs = [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(pairs) + " }" if pairs else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


class _Toml:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str) -> None:
        self.lines.append(f"# {text}".rstrip().replace("\n", " "))

    def table(self, name: str, array: bool = False) -> None:
        self.lines.append("")
        self.lines.append(f"[[{name}]]" if array else f"[{name}]")

    def key(self, name: str, value: Any, note: str | None = None) -> None:
        line = f"{toml_key(name)} = {toml_value(value)}"
        self.lines.append(f"{line}  # {note}".replace("\n", " ") if note else line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def scenario_text(report: ProbeReport) -> str:
    """A scenario for the probed backend: one client group per way that delivered the message,
    `delivery_ratio >= 1` for each."""
    options = report.options
    groups = client_groups(report)
    out = _Toml()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.comment(f"Written by `wasim probe {options.url}` on {when}. What the probe saw:")
    for check in report.checks:
        out.comment(f"  {_MARKS[check.verdict]} {check.name}: {check.detail}")
    out.comment(f"Run it with: wasim bench {report.scenario_file or 'scenario.toml'}")
    out.key("name", f"probe-{_host(options.url)}")
    out.key("description", f"written by wasim probe against {options.url}")
    thresholds = [f"{g.kind}.delivery_ratio >= 1" for g in groups if g.delivers]
    out.lines.append("thresholds = [")
    out.lines.extend(f"    {toml_value(t)}," for t in thresholds)
    out.lines.append("]")
    if options.setup is None:
        out.key("setup", [], "no setup call: messages reach users without one")
    _backend(out, report)
    _auth(out, options)
    _setup(out, options)
    _users_and_traffic(out, options)
    _match(out, report)
    for group in groups:
        _group(out, group)
    return out.text()


def _host(url: str) -> str:
    parts = urlsplit(url)
    return (parts.hostname or "backend") + (f"-{parts.port}" if parts.port else "")


def _backend(out: _Toml, report: ProbeReport) -> None:
    options = report.options
    out.table("backend")
    out.key("url", options.url)
    out.key("webhook_path", options.webhook_path)
    out.key("app_secret", options.app_secret)
    out.key("verify_token", options.verify_token)
    if report.metrics:
        out.key("metrics_path", options.metrics_path, "Prometheus text: server-side counts")
    else:
        out.key("metrics_path", "", f"no Prometheus text at {options.metrics_path}")


def _auth(out: _Toml, options: ProbeOptions) -> None:
    if options.token:
        out.table("auth")
        out.comment("the one token given to the probe, for its one user")
        out.key("tokens", {options.user: options.token})
    elif options.login is not None:
        out.table("auth.login")
        out.comment("one login request per user; {user} is each user's name")
        out.key("method", options.login.method)
        out.key("path", options.login.path)
        out.key("body", options.login.body)
        out.key("token", options.login.token)
    else:
        out.table("auth")
        out.key("jwt_secret", options.jwt_secret)
        out.key("claim", options.jwt_claim)
        out.key("algorithm", options.jwt_algorithm)


def _setup(out: _Toml, options: ProbeOptions) -> None:
    if options.setup is None:
        return
    request = options.setup
    out.table("setup", array=True)
    out.comment("each user opens a conversation with each of its contacts before traffic")
    out.key("per", request.per)
    out.key("method", request.method)
    out.key("path", request.path)
    if request.body is not None:
        out.key("body", request.body)
    if request.capture:
        out.key("capture", request.capture)


def _users_and_traffic(out: _Toml, options: ProbeOptions) -> None:
    out.table("users")
    if options.token:
        out.key("names", [options.user], "one user: the token given is theirs")
    else:
        out.key("count", options.users)
    out.table("traffic")
    out.key("rate", options.rate, "inbound messages per second, all users together")
    out.key("duration", f"{options.duration:g}s")
    if options.duration >= 3:
        out.key("warmup", "1s", "sent, not measured: first connections and caches stay out")


def _match(out: _Toml, report: ProbeReport) -> None:
    paths: list[str] = []
    for finding in report.push:
        for event in finding.events:
            if event.carries == "message" and event.how == "id" and event.path:
                if event.path not in paths:
                    paths.append(event.path)
    out.table("match")
    out.comment("every string of an event or poll answer is looked up among the ids sent, and")
    out.comment("each text carries a marker (#K7QF2M) for backends that show only the text")
    out.key("marker", True)
    if paths:
        out.comment("the push events held the message id here; to look only there (what holds it")
        out.comment("elsewhere, such as a text with its marker, would then match nothing):")
        out.comment(f"id_paths = {toml_value(paths)}")


Field = tuple[str | None, Any, str | None]  # key, value, comment; no key: a comment line


@dataclass(frozen=True)
class Group:
    """One `[[clients]]` table to write; one that did not deliver is written commented out."""

    kind: str
    delivers: bool
    fields: list[Field]
    note: str | None = None


def client_groups(report: ProbeReport) -> list[Group]:
    """Polling if the message showed in the list or detail, each push transport that connected,
    hybrid if Socket.IO did; when none delivered, all of them (a scenario needs one)."""
    groups: list[Group] = []
    poll = report.poll
    polling = _poll_fields(report.options, poll) if poll.accepted else []
    if poll.accepted:
        shown = _where_polls_see(poll)
        groups.append(Group("poll", poll.delivers, polling, shown))
        optimized = list(polling)
        if not poll.not_modified:
            optimized.insert(0, ("etag", True, "no 304 seen: If-None-Match saves nothing here"))
        groups.append(Group("poll-optimized", poll.delivers, optimized, shown))
    for finding in report.push:
        if finding.connected:
            groups.append(Group(finding.kind, finding.delivers, _push_fields(finding)))
    socketio = next(f for f in report.push if f.kind == "socketio")
    if socketio.connected:
        note = "Socket.IO; polls the list every 30 s only while push is down for 10 s"
        groups.append(Group("hybrid", socketio.delivers, _push_fields(socketio) + polling, note))
    if not any(group.delivers for group in groups):
        return [Group(g.kind, True, g.fields, g.note) for g in groups]
    return groups


def _where_polls_see(poll: PollFinding) -> str:
    seen = []
    if poll.found is not None:
        seen.append(f"the list at {poll.found} (by {poll.how})")
    if poll.detail_found is not None:
        seen.append(f"the open chat at {poll.detail_found}")
    return "the message showed in " + " and ".join(seen) if seen else "the message never showed"


def _push_fields(finding: PushFinding) -> list[Field]:
    options_key, default = _DEFAULT_PATHS[finding.kind]
    fields: list[Field] = []
    if finding.path != default:
        fields.append((options_key, finding.path, None))
    for role in _ROLES:
        name = getattr(finding, role)
        if name is None:
            continue
        event = next(e for e in finding.events if e.name == name)
        what = "the status id" if event.carries == "status" else f"the message {event.how}"
        # Bench keeps every event whatever its name; the names are for the reader.
        fields.append((None, None, f"event {name!r} carried {what} at {event.path}"))
    return fields


def _poll_fields(options: ProbeOptions, poll: PollFinding) -> list[Field]:
    fields: list[Field] = []
    if options.conversations_path != defaults.CONVERSATIONS_PATH:
        fields.append(("conversations_path", options.conversations_path, None))
    if poll.list_field not in (None, "conversations"):
        fields.append(("list_field", poll.list_field, "where the list of conversations is"))
    if poll.id_field != "id":
        fields.append(("id_field", poll.id_field, "a conversation's id"))
    if options.detail_path:
        fields.append(("detail_path", options.detail_path, None))
    if poll.messages_field not in (None, "messages"):
        fields.append(("messages_field", poll.messages_field, "a conversation's messages"))
    return fields


def _group(out: _Toml, group: Group) -> None:
    if group.delivers:
        out.table("clients", array=True)
        out.key("kind", group.kind, group.note)
        for key, value, note in group.fields:
            if key is None:
                out.comment(note or "")
            else:
                out.key(key, value, note)
        return
    out.lines.append("")
    out.comment(f"{group.kind} connected, but nothing it received carried the probe's message:")
    out.comment("[[clients]]")
    out.comment(f"kind = {toml_value(group.kind)}")
