"""Options several commands share, spelled (name, environment variable, help) once."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from wasim.cli._app import err_console, fail
from wasim.errors import ConfigError
from wasim.units import parse_duration

if TYPE_CHECKING:  # prometheus-client: imported by the commands that serve metrics only
    from wasim.observe import Command, Metrics

T = TypeVar("T")


def setting(name: str, help: str, min: float | None = None) -> Any:
    """A `wasim serve` option that the variable WASIM_<NAME> also sets, as the backend's does."""
    return typer.Option(envvar=f"WASIM_{name.upper()}", help=help, min=min)


AppSecret = Annotated[str, setting("app_secret", "App secret that signs webhooks.")]
VerifyToken = Annotated[str, setting("verify_token", "Verify token of the GET handshake.")]
JwtSecret = Annotated[str, setting("jwt_secret", "Secret that signs user JWTs.")]
JwtClaim = Annotated[str, typer.Option(help="Claim carrying the user id.")]
JwtAlgorithm = Annotated[str, typer.Option(help="JWT algorithm.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]

Token = Annotated[str | None, typer.Option(help="A user's token, as is (no minting, no login).")]
SocketioPath = Annotated[str, typer.Option(help="Socket.IO path.")]
StreamPath = Annotated[str, typer.Option(help="SSE path.")]
WsPath = Annotated[str, typer.Option(help="WebSocket path.")]
ConversationsPath = Annotated[str, typer.Option(help="Conversation list path (polling).")]
AuthField = Annotated[str, typer.Option(help="Socket.IO auth field for the token.")]
Ledger = Annotated[
    Path | None,
    typer.Option(
        help="Send ledger, the message ids and times of each POST: `wasim send` writes it, "
        "`wasim listen` follows it (default: $WASIM_LEDGER, else sent.jsonl in the user cache "
        "dir)."
    ),
]
NoLedger = Annotated[
    bool,
    typer.Option(
        "--no-ledger",
        help="Write (send) or follow (listen) no send ledger; listen then estimates latency "
        "from timestamps.",
    ),
]

# A bench result: printed, and written in the formats CI reads (`wasim bench`, `wasim report`).
ResultJson = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (schema wasim.bench/1).")
]
JsonFile = Annotated[
    Path | None, typer.Option("--json-file", help="Also write the JSON result here.")
]
JunitFile = Annotated[
    Path | None, typer.Option(help="Write JUnit XML here: one test case per threshold.")
]
MarkdownFile = Annotated[Path | None, typer.Option(help="Write a Markdown summary here.")]
HtmlFile = Annotated[Path | None, typer.Option(help="Write a self-contained HTML report.")]

MetricsPort = Annotated[
    int | None,
    typer.Option(
        help="Serve live Prometheus metrics on this port while the run lasts (0: a free "
        "port; the address is printed on stderr).",
    ),
]
MetricsHost = Annotated[
    str, typer.Option(help="Address of the metrics endpoint (0.0.0.0 to be scraped in a pod).")
]
OtlpEndpoint = Annotated[
    str | None,
    typer.Option(
        help="Push the same metrics over OTLP/HTTP to this OpenTelemetry collector, e.g. "
        "http://collector:4318 (needs the otlp extra).",
    ),
]
OtlpInterval = Annotated[str, typer.Option(help="How often to push over OTLP, e.g. 5s.")]


def open_metrics(
    stack: contextlib.ExitStack,
    command: Command,
    port: int | None,
    host: str,
    otlp_endpoint: str | None,
    otlp_interval: str,
    labels: Mapping[str, str] | None = None,
) -> Metrics | None:
    """Start the run's metrics (until `stack` closes) when asked for; print the address."""
    if port is None and otlp_endpoint is None:
        return None
    from wasim.observe import Metrics

    try:
        interval = parse_duration(otlp_interval, "--otlp-interval")
        metrics = Metrics(
            command,
            port=port,
            host=host,
            otlp_endpoint=otlp_endpoint,
            otlp_interval=interval,
            labels=labels,
        )
        stack.enter_context(metrics)
    except ConfigError as exc:
        fail(str(exc), exc.exit_code)
    if metrics.url is not None:
        err_console.print(f"metrics: {metrics.url}", highlight=False, soft_wrap=True)
    return metrics


def fan_out(*callbacks: Callable[[T], None] | None) -> Callable[[T], None] | None:
    """One callback calling each of `callbacks` that is not None (None if none is)."""
    present = [callback for callback in callbacks if callback is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def every(value: T) -> None:
        for callback in present:
            callback(value)

    return every
