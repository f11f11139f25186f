"""`wasim probe`: learn a backend nobody has measured yet and write a scenario for it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from wasim import defaults
from wasim.cli._app import Command, app, console, run
from wasim.cli.options import (
    AppSecret,
    AsJson,
    AuthField,
    ConversationsPath,
    JwtAlgorithm,
    JwtClaim,
    JwtSecret,
    SocketioPath,
    StreamPath,
    Token,
    VerifyToken,
    WsPath,
)
from wasim.probe import ProbeOptions, ProbeReport, probe
from wasim.probe.models import DEFAULT_SETUP_BODY
from wasim.probe.push import event_line

_MARKS = {"ok": "[green]✓[/]", "missing": "[red]✗[/]", "warning": "[yellow]![/]"}


@app.command("probe", cls=Command)
def probe_command(
    url: Annotated[str, typer.Argument(help="Base URL of the backend.")] = defaults.BASE_URL,
    webhook_path: Annotated[str, typer.Option(help="Webhook path.")] = defaults.WEBHOOK_PATH,
    app_secret: AppSecret = defaults.APP_SECRET,
    verify_token: VerifyToken = defaults.VERIFY_TOKEN,
    token: Token = None,
    jwt_secret: JwtSecret = defaults.JWT_SECRET,
    jwt_claim: JwtClaim = defaults.JWT_CLAIM,
    jwt_algorithm: JwtAlgorithm = defaults.JWT_ALGORITHM,
    login_path: Annotated[
        str | None, typer.Option(help="Log in with this request instead of minting a JWT.")
    ] = None,
    login_body: Annotated[
        str, typer.Option(help="Login JSON body; {user} is the user's name.")
    ] = '{"username": "{user}"}',
    login_token: Annotated[
        str, typer.Option(help="Dotted path of the token in the login answer.")
    ] = "token",
    setup_path: Annotated[
        str, typer.Option(help="Setup call that opens a conversation with a contact.")
    ] = defaults.CONVERSATIONS_PATH,
    setup_body: Annotated[
        str, typer.Option(help="Setup JSON body; {user}, {contact.phone}, {contact.name}.")
    ] = DEFAULT_SETUP_BODY,
    setup_capture: Annotated[
        list[str] | None,
        typer.Option(help="name=path to keep from the setup answer (conversation_id=id)."),
    ] = None,
    no_setup: Annotated[
        bool,
        typer.Option("--no-setup", help="Make no setup call: messages reach users without one."),
    ] = False,
    conversations_path: ConversationsPath = defaults.CONVERSATIONS_PATH,
    detail_path: Annotated[
        str | None, typer.Option(help="One conversation's path, with {id} (default: list/{id}).")
    ] = None,
    socketio_path: SocketioPath = defaults.SOCKETIO_PATH,
    stream_path: StreamPath = defaults.STREAM_PATH,
    ws_path: WsPath = defaults.WS_PATH,
    auth_field: AuthField = "token",
    token_in: Annotated[
        str, typer.Option(help="SSE/WebSocket token place: header or query.")
    ] = "header",
    metrics_path: Annotated[str, typer.Option(help="Prometheus metrics path.")] = "/metrics",
    user: Annotated[str, typer.Option(help="The probe's user.")] = "probe1",
    phone: Annotated[
        str | None, typer.Option(help="The contact phone to write from (default: a fresh one).")
    ] = None,
    timeout: Annotated[
        str, typer.Option(help="How long to wait for each answer and event (5s).")
    ] = "5s",
    users: Annotated[int, typer.Option(help="Users in the written scenario.")] = 5,
    rate: Annotated[float, typer.Option(help="Messages per second in the written scenario.")] = 5.0,
    duration: Annotated[
        str, typer.Option(help="Traffic duration in the written scenario (5s, 1m).")
    ] = "5s",
    write: Annotated[
        str, typer.Option(help="Scenario file to write ('' for none).")
    ] = "scenario.toml",
    as_json: AsJson = False,
) -> None:
    """Learn a backend and write a scenario that `wasim bench` runs unchanged.

    Probes the handshake, signature, token, push transports, polling endpoints, and where one
    signed message shows.

    Example: wasim probe http://127.0.0.1:3000 --login-path /auth/login --write app.toml
    """

    async def go() -> ProbeReport:
        options = ProbeOptions.from_cli(
            url=url, webhook_path=webhook_path, app_secret=app_secret,
            verify_token=verify_token, token=token, jwt_secret=jwt_secret, jwt_claim=jwt_claim,
            jwt_algorithm=jwt_algorithm, login_path=login_path, login_body=login_body,
            login_token=login_token, setup_path=None if no_setup else setup_path,
            setup_body=setup_body, setup_capture=setup_capture or ["conversation_id=id"],
            conversations_path=conversations_path, detail_path=detail_path,
            socketio_path=socketio_path, stream_path=stream_path, ws_path=ws_path,
            auth_field=auth_field, token_in=token_in, metrics_path=metrics_path, user=user,
            phone=phone, timeout=timeout, users=users, rate=rate, duration=duration,
            write=write or None,
        )  # fmt: skip
        return await probe(options)

    report = run(go())
    render_probe(report, as_json)


def render_probe(report: ProbeReport, as_json: bool) -> None:
    if as_json:
        console.print_json(report.model_dump_json())
        return
    console.print(f"wasim probe: {report.options.url}", highlight=False)
    events = {f"{finding.kind} {finding.path}": finding.events for finding in report.push}
    for check in report.checks:
        line = f"{_MARKS[check.verdict]} {escape(check.name)}: {escape(check.detail)}"
        console.print(line, highlight=False, soft_wrap=True)
        for event in events.get(check.name, []):
            console.print(f"    {event_line(event)}", highlight=False, soft_wrap=True, markup=False)
    if report.scenario_file:
        console.print(
            f"wrote {report.scenario_file}: run it with `wasim bench {report.scenario_file}`",
            highlight=False,
            soft_wrap=True,
        )
