"""Options several commands share, spelled (name, environment variable, help) once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


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
