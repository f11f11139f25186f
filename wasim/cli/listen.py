"""`wasim listen`: many authenticated push listeners, a live tail, and a summary on exit."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from wasim import defaults
from wasim.cli._app import Command, app, console, err_console, exit_if_interrupted, run
from wasim.cli.options import (
    AuthField,
    ConversationsPath,
    JwtAlgorithm,
    JwtClaim,
    JwtSecret,
    Ledger,
    MetricsHost,
    MetricsPort,
    NoLedger,
    OtlpEndpoint,
    OtlpInterval,
    SocketioPath,
    StreamPath,
    Token,
    WsPath,
    open_metrics,
)
from wasim.ledger import ledger_path
from wasim.listen import ListenOptions, Summary, credentials
from wasim.listen.processes import listen_spread
from wasim.listen.render import print_json, render_record, render_summary
from wasim.transports import ListenerConfig
from wasim.transports.config import TokenPlace
from wasim.units import parse_duration
from wasim.workers import default_processes


def seconds(text: str | None, option: str) -> float | None:
    return None if text is None else parse_duration(text, option)


@app.command("listen", cls=Command)
def listen_command(
    url: Annotated[str, typer.Option(help="Base URL of the backend.")] = defaults.BASE_URL,
    transport: Annotated[
        str,
        typer.Option(
            help="socketio, socketio-lean, sse or ws (socketio uses the lean client above "
            "1,000 listeners)."
        ),
    ] = "socketio",
    user: Annotated[str, typer.Option(help="The one user to listen as.")] = defaults.DEFAULT_OWNER,
    users: Annotated[
        int | None, typer.Option(help="Listen as N users (user1 … userN), minting their tokens.")
    ] = None,
    per_user: Annotated[int, typer.Option(help="Listeners per user (tabs, devices).")] = 1,
    token: Token = None,
    tokens_file: Annotated[
        Path | None, typer.Option(help="A file of tokens, one a line (`token` or `user token`).")
    ] = None,
    jwt_secret: JwtSecret = defaults.JWT_SECRET,
    jwt_claim: JwtClaim = defaults.JWT_CLAIM,
    jwt_algorithm: JwtAlgorithm = defaults.JWT_ALGORITHM,
    jwt_expiry: Annotated[float, typer.Option(help="Seconds until minted tokens expire.")] = 3600,
    ramp: Annotated[
        float | None, typer.Option(help="Connections opened per second (default: at once).")
    ] = None,
    processes: Annotated[
        int | None, typer.Option(help="Processes to spread listeners over (default: by count).")
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (30s, 2m); default: until Ctrl-C.")
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(help="Comma-separated event names to show and count (default: every event)."),
    ] = None,
    fallback_poll: Annotated[
        str | None, typer.Option(help="Hybrid: poll this often (30s) while push is down.")
    ] = None,
    fallback_after: Annotated[
        str, typer.Option(help="Hybrid: start polling after push is down this long.")
    ] = "10s",
    resume: Annotated[
        bool, typer.Option(help="Resume from the last event id after a drop.")
    ] = True,
    token_in: Annotated[
        str | None, typer.Option(help="SSE/WebSocket token place: header or query.")
    ] = None,
    socketio_path: SocketioPath = defaults.SOCKETIO_PATH,
    namespace: Annotated[str, typer.Option(help="Socket.IO namespace.")] = "/",
    auth_field: AuthField = "token",
    polling: Annotated[
        bool, typer.Option(help="Socket.IO: allow long-polling, not only WebSocket.")
    ] = False,
    stream_path: StreamPath = defaults.STREAM_PATH,
    ws_path: WsPath = defaults.WS_PATH,
    conversations_path: ConversationsPath = defaults.CONVERSATIONS_PATH,
    id_path: Annotated[
        list[str] | None,
        typer.Option(
            help="Where events carry the message id (dotted, e.g. message.id; repeatable); "
            "default: any string that is an id or marker from the send ledger."
        ),
    ] = None,
    ledger: Ledger = None,
    no_ledger: NoLedger = False,
    quiet: Annotated[bool, typer.Option(help="No live tail; the summary only.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="NDJSON lines instead.")] = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
    otlp_endpoint: OtlpEndpoint = None,
    otlp_interval: OtlpInterval = "5s",
) -> None:
    """Hold push listeners open for one or many users and tail what they receive.

    Example: wasim listen --transport sse --users 100 --per-user 2 --duration 1m
    """
    wanted = tuple(e.strip() for e in events.split(",") if e.strip()) if events else None
    config = ListenerConfig(
        base_url=url,
        events=wanted or (),
        resume=resume,
        token_in=cast(TokenPlace | None, token_in),  # ListenOptions.check() refuses others
        socketio_path=socketio_path,
        namespace=namespace,
        auth_field=auth_field,
        socketio_transports=("websocket", "polling") if polling else ("websocket",),
        stream_path=stream_path,
        ws_path=ws_path,
        conversations_path=conversations_path,
    )
    tail = err_console if quiet else console
    followed = ledger_path(ledger, not no_ledger)

    def emit(record: dict[str, Any]) -> None:
        if json_output:
            print_json(record)
        else:
            render_record(tail, record)

    async def go() -> Summary:
        who = credentials(
            user=user,
            users=users,
            token=token,
            tokens_file=tokens_file,
            jwt_secret=jwt_secret,
            claim=jwt_claim,
            algorithm=jwt_algorithm,
            expires_in=jwt_expiry,
        )
        options = ListenOptions(
            kind=transport,
            config=config,
            credentials=tuple(who),
            per_user=per_user,
            ramp=ramp,
            duration=seconds(duration, "--duration"),
            fallback_poll=seconds(fallback_poll, "--fallback-poll"),
            fallback_after=parse_duration(fallback_after, "--fallback-after"),
            tail=not quiet,
            ledger=str(followed) if followed else None,
            id_paths=tuple(id_path or ()),
        )
        count = len(who) * per_user
        spread = processes or default_processes(count)
        on_figures = metrics.update if metrics is not None else None
        return await listen_spread(options, emit, spread, stop, on_figures=on_figures)

    stop = asyncio.Event()  # Ctrl-C: the summary so far, then exit 130
    with contextlib.ExitStack() as stack:
        metrics = open_metrics(
            stack, "listen", metrics_port, metrics_host, otlp_endpoint, otlp_interval
        )
        summary = run(go(), stop=stop)
        if metrics is not None:
            metrics.progress("done")
    if json_output:
        print_json({"type": "summary", **summary.model_dump(mode="json")})
    else:
        render_summary(console, summary)
    exit_if_interrupted()
