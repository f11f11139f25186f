"""`wasim serve` (the bundled backend) and `wasim token` (a JWT for it)."""

from __future__ import annotations

from typing import Annotated

import typer

from wasim import defaults
from wasim.cli._app import Command, app, console, handled, run
from wasim.cli.options import (
    AppSecret,
    JwtAlgorithm,
    JwtClaim,
    JwtSecret,
    VerifyToken,
    setting,
)
from wasim.connections import Deadlines
from wasim.errors import ConfigError
from wasim.server import READY_PREFIX, bind_socket, check_database, check_redis, serve
from wasim.supervisor import serve_workers
from wasim.tokens import mint_token


@app.command("serve", cls=Command)
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = defaults.HOST,
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = (
        defaults.PORT
    ),
    app_secret: AppSecret = defaults.APP_SECRET,
    verify_token: VerifyToken = defaults.VERIFY_TOKEN,
    jwt_secret: JwtSecret = defaults.JWT_SECRET,
    database_url: Annotated[
        str, setting("database_url", "SQLAlchemy URL (SQLite or PostgreSQL).")
    ] = "sqlite+aiosqlite:///wasim.db",
    redis_url: Annotated[
        str | None, setting("redis_url", "Redis URL to share events across workers.")
    ] = None,
    redis_channel: Annotated[
        str, setting("redis_channel", "Redis channel the workers share.")
    ] = "wasim:events",
    default_owner: Annotated[
        str, setting("default_owner", "User who owns unknown contacts' chats.")
    ] = defaults.DEFAULT_OWNER,
    frontend_origin: Annotated[
        str,
        setting("frontend_origin", "Origins CORS allows and WebSockets accept, comma-separated."),
    ] = "http://localhost:3000,http://127.0.0.1:3000",
    max_connections: Annotated[
        int, setting("max_connections", "Push connections, in total.", min=1)
    ] = 10_000,
    max_connections_per_user: Annotated[
        int, setting("max_connections_per_user", "Push connections per user.", min=1)
    ] = 100,
    max_buffered_events: Annotated[
        int,
        setting(
            "max_buffered_events",
            "Events a push connection may have waiting; one more drops it (it resumes).",
            min=1,
        ),
    ] = 1_000,
    send_timeout: Annotated[
        float, setting("send_timeout", "Seconds one push send may take.", min=0.001)
    ] = 10.0,
    max_token_lifetime: Annotated[
        float,
        setting(
            "max_token_lifetime",
            "Refuse tokens that expire later than this many seconds from now.",
            min=1,
        ),
    ] = 86_400.0,
    header_timeout: Annotated[
        float,
        setting(
            "header_timeout",
            "Seconds a client has to send a request's headers (then 408).",
            min=0.001,
        ),
    ] = Deadlines.header_timeout,
    body_timeout: Annotated[
        float,
        setting(
            "body_timeout", "Seconds a client has to send a request's body (then 408).", min=0.001
        ),
    ] = Deadlines.body_timeout,
    keep_alive_timeout: Annotated[
        float,
        setting(
            "keep_alive_timeout", "Seconds an idle kept-alive connection stays open.", min=0.001
        ),
    ] = Deadlines.keep_alive_timeout,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    gc_freeze: Annotated[
        bool,
        typer.Option(
            help="Keep objects that survive a full garbage collection out of later ones (no "
            "0.2 s stalls with thousands of connections); once as many connections have closed "
            "as are open, one full collection reclaims what they left."
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes on one port (SO_REUSEPORT), restarted if one dies; they share "
            "the database and fan out over Redis, so more than 1 needs --redis-url.",
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option(help="Print only the ready line.")] = False,
) -> None:
    """Run the bundled backend: signed webhooks in, Socket.IO, SSE, WebSocket and polling out.

    Example: wasim serve --port 8000
    """
    options = dict(locals())  # the backend's settings are the options of the same names
    from mock_backend import Settings, create_app

    settings = Settings(**{k: v for k, v in options.items() if k in Settings.model_fields})
    deadlines = Deadlines(header_timeout, body_timeout, keep_alive_timeout)
    with handled():
        try:
            application = create_app(settings)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if workers > 1 and not redis_url:
            raise ConfigError(
                f"--workers {workers} needs --redis-url: the workers share their events over Redis"
            )
        sock = bind_socket(host, port) if workers == 1 else None

    def ready(url: str, pids: list[int] | None = None) -> None:
        if not quiet:
            dev = [
                ("app secret", app_secret, defaults.APP_SECRET),
                ("verify token", verify_token, defaults.VERIFY_TOKEN),
                ("JWT secret", jwt_secret, defaults.JWT_SECRET),
            ]
            for name, value, dev_value in dev:
                shown = f"{value} (dev default)" if value == dev_value else "(set, not shown)"
                console.print(f"{name:>13}: {shown}", highlight=False)
            console.print(f"{'database':>13}: {_redact(database_url)}", highlight=False)
            console.print(f"{'default owner':>13}: {default_owner}", highlight=False)
            console.print(f"{'webhook':>13}: {url}{settings.webhook_path}", highlight=False)
            console.print(f"{'inbox':>13}: {url}/ (API docs at {url}/docs)", highlight=False)
            if pids:
                shown = ", ".join(map(str, pids))
                console.print(f"{'workers':>13}: {len(pids)} (pids {shown})", highlight=False)
        print(f"{READY_PREFIX}{url}", flush=True)

    level = "warning" if quiet else log_level

    async def go() -> None:
        await check_database(settings.database_url)
        if settings.redis_url:
            await check_redis(settings.redis_url)
        if sock is None:  # each worker builds its own application
            await serve_workers(
                settings, host, port, workers, log_level=level, gc_freeze=gc_freeze, on_ready=ready
            )
        else:
            await serve(
                application,
                sock,
                log_level=level,
                on_ready=ready,
                gc_freeze=gc_freeze,
                deadlines=deadlines,
            )

    run(go(), fast_loop=True)


def _redact(url: str) -> str:
    # Never print a database password.
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.split('@', 1)[1]}"


@app.command("token", cls=Command)
def token_command(
    user: Annotated[str, typer.Option("--user", "-u", help="User id to put in the token.")] = (
        defaults.DEFAULT_OWNER
    ),
    secret: JwtSecret = defaults.JWT_SECRET,
    claim: JwtClaim = defaults.JWT_CLAIM,
    algorithm: JwtAlgorithm = defaults.JWT_ALGORITHM,
    expires_in: Annotated[
        float, typer.Option(min=1, help="Seconds until the token expires.")
    ] = 3600.0,
) -> None:
    """Mint a JWT that the bundled backend (or one like it) accepts for a user.

    Example: wasim token --user demo
    """
    with handled():
        token = mint_token(
            user, secret=secret, claim=claim, algorithm=algorithm, expires_in=expires_in
        )
    print(token)
