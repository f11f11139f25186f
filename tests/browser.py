"""Driving Debian's Chromium with Playwright: where the browser is, where screenshots go, a
page that records its console errors and every URL it asked for, and the real sender."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# CI keeps this folder (.ci/run prints it); WASIM_TEST_ARTIFACTS moves it.
ARTIFACTS = Path(os.environ.get("WASIM_TEST_ARTIFACTS", ROOT / "artifacts")) / "screenshots"


def chromium_path() -> str | None:
    """Debian's Chromium (`apt-get install chromium`); Playwright never downloads one here."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@dataclass
class Watched:
    """A page with what it logged as an error and every request it made."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def watch(page: Any) -> Watched:
    watched = Watched(page)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    page.on("request", lambda request: watched.requests.append(request.url))
    return watched


def send(url: str, *args: str) -> str:
    """`wasim send ... --url URL` as a user runs it; its output, or the test fails."""
    done = subprocess.run(
        [sys.executable, "-m", "wasim", "send", *args, "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
