"""Options several commands share, spelled (name, environment variable, help) once."""

from __future__ import annotations

from typing import Annotated

import typer

AppSecret = Annotated[
    str, typer.Option(envvar="WASIM_APP_SECRET", help="App secret that signs webhooks.")
]
VerifyToken = Annotated[
    str, typer.Option(envvar="WASIM_VERIFY_TOKEN", help="Verify token of the GET handshake.")
]
JwtSecret = Annotated[
    str, typer.Option(envvar="WASIM_JWT_SECRET", help="Secret that signs user JWTs.")
]
JwtClaim = Annotated[str, typer.Option(help="Claim carrying the user id.")]
JwtAlgorithm = Annotated[str, typer.Option(help="JWT algorithm.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
