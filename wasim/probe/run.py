"""`probe(options)`: one pass over a backend nobody has measured yet, step by step.

The handshake, a token, the setup call, every push transport, a webhook with a bad signature,
one signed message (and a status) with a marker, what arrived where, the polling endpoints and
`/metrics`; then the scenario file. What the backend lacks is a finding; an unreachable backend,
a refused app secret or a refused token is an error, said in one line.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import httpx

from wasim.bench.loader import loads
from wasim.bench.prepare import render, request_json, token_of
from wasim.bench.scenario import Auth
from wasim.correlate import Matcher, at_path
from wasim.errors import AuthError, ConfigError, ProtocolError, TargetError
from wasim.payloads.factory import PayloadFactory, Update
from wasim.probe.models import Check, PollFinding, ProbeOptions, ProbeReport, Verdict
from wasim.probe.poll import has_metrics, list_access, poll_checks, read_polling
from wasim.probe.push import Taps, push_check
from wasim.probe.scenario import scenario_text
from wasim.send.encoding import SignMode, encode, signed_request
from wasim.send.verify import verify
from wasim.tokens import mint_token

_SETTLE = 0.3  # events that follow the first (a conversation update) come within this
# A status of the probe's own message: Meta sends statuses of outbound messages, but any
# backend knows this id, so the event it pushes for a status can be seen.
STATUS = "read"


async def probe(options: ProbeOptions) -> ProbeReport:
    """Probe the backend at `options.url` and write a scenario for it (`options.write`)."""
    checks = [await handshake(options)]
    factory = PayloadFactory(markers=True)
    phone = options.phone or fresh_phone()
    contact = factory.contact(phone)
    message = factory.message("text", from_phone=phone)
    wamid = str(message.wamid)
    status = factory.status(STATUS, wamid=wamid, recipient=phone)
    matcher = Matcher({wamid}, factory.markers)
    async with httpx.AsyncClient(timeout=options.timeout) as http:
        token, source = await get_token(http, options)
        checks.append(Check(name="token", verdict="ok", detail=source))
        captured = await setup(http, options, token, contact.phone, contact.name, checks)
        taps = await Taps.open(options, token, matcher)
        try:
            access = await list_access(http, options, token)
            require_access(options, taps, access)
            checks.append(await post(http, options, PayloadFactory(), "bad-secret"))
            checks.append(await post(http, options, factory, "valid", message))
            await taps.until({wamid}, options.timeout)
            await taps.settle(_SETTLE, options.timeout)
            poll = await read_polling(http, options, token, matcher, wamid, captured, phone)
            got = [tap for tap in taps.taps if wamid in tap.keys]
            taps.mark()
            checks.append(await post(http, options, factory, "valid", status))
            if got:  # a transport that missed the message would miss its status too
                await taps.until({wamid}, options.timeout, among=got)
                await taps.settle(_SETTLE, options.timeout)
        finally:
            await taps.close()
        metrics = await has_metrics(http, options)
    push = taps.findings(wamid)
    checks += [push_check(finding) for finding in push]
    checks += poll_checks(poll, options.timeout)
    checks.append(metrics_check(options, metrics))
    marker = next(code for code, key in (factory.markers or {}).items() if key == wamid)
    report = ProbeReport(
        options=options,
        checks=checks,
        token_source=source,
        phone=phone,
        wamid=wamid,
        marker=marker,
        conversation_id=captured,
        push=push,
        poll=poll,
        metrics=metrics,
        scenario_file=options.write,
    )
    if options.write:
        write(options.write, scenario_text(report))
    return report


def metrics_check(options: ProbeOptions, metrics: bool) -> Check:
    if metrics:
        return Check(
            name="metrics", verdict="ok", detail=f"Prometheus text at {options.metrics_path}"
        )
    detail = f"none at {options.metrics_path}: the bench will show no server-side counts"
    return Check(name="metrics", verdict="warning", detail=detail)


def fresh_phone() -> str:
    """A phone nobody has written from: Mexico's mobile prefix and 8 random digits."""
    return "5215" + "".join(random.choice("0123456789") for _ in range(8))


async def handshake(options: ProbeOptions) -> Check:
    url = options.base + options.webhook_path
    result = await verify(url, options.verify_token, timeout=options.timeout)
    if result.status_code == 404:
        raise ProtocolError(f"nothing at {url} (HTTP 404): wrong --webhook-path?")
    if result.status_code in (401, 403):
        raise AuthError(
            f"{url} refused the verify token (HTTP {result.status_code}): wrong --verify-token?"
        )
    return Check(name="handshake", verdict="ok" if result.ok else "warning", detail=result.verdict)


def token_hint(options: ProbeOptions) -> str:
    if options.token:
        return "is --token valid for this backend?"
    if options.login:
        return "does the login answer hold the token at --login-token?"
    return "wrong --jwt-secret or --jwt-claim?"


async def get_token(http: httpx.AsyncClient, options: ProbeOptions) -> tuple[str, str]:
    """The probe user's token and where it came from."""
    if options.token:
        return options.token, "given with --token"
    if options.login is None:
        token = mint_token(
            options.user,
            secret=options.jwt_secret,
            claim=options.jwt_claim,
            algorithm=options.jwt_algorithm,
        )
        return (
            token,
            f"minted for {options.user} ({options.jwt_algorithm}, claim {options.jwt_claim})",
        )
    login = options.login
    try:
        token = await token_of(http, options.base, Auth(login=login), options.user)
    except (AuthError, ProtocolError) as exc:
        status = re.search(r"HTTP \d+", str(exc))
        if status is None:  # answered, but without a token where --login-token says
            raise ProtocolError(f"{exc}: give --login-token") from None
        raise AuthError(
            f"{login.method} {options.base}{login.path} refused the login of {options.user} "
            f"({status.group(0)}): check --login-path and --login-body"
        ) from None
    return token, f"from {login.method} {login.path} as {options.user}, at {login.token!r}"


async def setup(
    http: httpx.AsyncClient,
    options: ProbeOptions,
    token: str,
    phone: str,
    name: str,
    checks: list[Check],
) -> str | int | None:
    """The setup call for the probe's contact; the conversation id it captured, if any."""
    request = options.setup
    if request is None:
        return None
    values: dict[str, Any] = {"user": options.user, "contact.phone": phone, "contact.name": name}
    body = render(request.body, values) if request.body is not None else None
    url = options.base + request.path
    try:
        answer = await request_json(http, request.method, url, token, body)
    except AuthError as exc:
        raise AuthError(f"{exc}: {token_hint(options)}") from None
    except ProtocolError as exc:
        raise ProtocolError(f"{exc}: check --setup-path and --setup-body") from None
    captured = {key: at_path(answer, path) for key, path in request.capture.items()}
    missing = [f"{key} at {request.capture[key]!r}" for key, v in captured.items() if v is None]
    detail = f"{request.method} {request.path} for {phone}"
    if missing:
        detail = f"{detail}: the answer has no {', '.join(missing)} (--setup-capture)"
        checks.append(Check(name="setup", verdict="warning", detail=detail))
    else:
        shown = ", ".join(f"{key} = {value!r}" for key, value in captured.items())
        checks.append(Check(name="setup", verdict="ok", detail=f"{detail}: {shown}".rstrip(": ")))
    first = captured.get("conversation_id", next(iter(captured.values()), None))
    return first if isinstance(first, str | int) and not isinstance(first, bool) else None


def require_access(options: ProbeOptions, taps: Taps, access: PollFinding) -> None:
    """Stop when nothing takes the token: no push transport, no conversation list."""
    if taps.connected or access.accepted:
        return
    refusers: list[str] = [tap.kind for tap in taps.taps if tap.refused]
    refusers += [options.conversations_path] if access.refused else []
    if refusers:
        raise AuthError(
            f"{options.base} refused the token ({', '.join(refusers)}): {token_hint(options)}"
        )
    reasons = [tap.reason or "" for tap in taps.taps] + [access.reason or ""]
    raise ProtocolError(
        f"found no push transport and no conversation list at {options.base} "
        f"({'; '.join(reasons)}): give their paths"
    )


async def post(
    http: httpx.AsyncClient,
    options: ProbeOptions,
    factory: PayloadFactory,
    mode: SignMode,
    update: Update | None = None,
) -> Check:
    """POST one webhook: a badly signed one should be refused, a signed message must be taken
    (a refusal is an error), a signed status should be."""
    url = options.base + options.webhook_path
    update = update or factory.message("text", from_phone=fresh_phone())
    body, headers = signed_request(encode(factory.envelope(update)), options.app_secret, mode)
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot POST to {url}: {exc or type(exc).__name__}") from None
    code = response.status_code
    if mode != "valid":
        verdict: Verdict = "warning" if response.is_success else "ok"
        taken = "accepted!" if response.is_success else "refused"
        detail = f"a webhook signed with a wrong secret was {taken} (HTTP {code})"
        return Check(name="signature", verdict=verdict, detail=detail)
    if update.field == "statuses":
        verdict = "ok" if response.is_success else "warning"
        detail = f"status {update.status!r} of that message: HTTP {code}"
        return Check(name="status", verdict=verdict, detail=detail)
    if code in (401, 403):
        raise AuthError(
            f"the backend refused the signed webhook (HTTP {code}): wrong --app-secret?"
        )
    if not response.is_success:
        raise ProtocolError(f"{url} answered the signed webhook with HTTP {code}")
    item = update.item
    marker = next((c for c, key in (factory.markers or {}).items() if key == item["id"]), "")
    detail = f"a text from {item['from']} with marker #{marker}: HTTP {code}"
    return Check(name="message", verdict="ok", detail=detail)


def write(path: str, text: str) -> None:
    loads(text, source=path)  # what bench will read, checked before it is written
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
