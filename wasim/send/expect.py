"""`--expect`: which answers a send should get, and one line on what came back instead.

Meta counts only a 200 as delivered (reference §5); a run whose answers are not what was
expected fails, with the answer most POSTs got and its likely cause. A refusal test says what
it expects (`--expect 401`, or a class, `4xx`) and then fails when the backend accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wasim.errors import ConfigError
from wasim.send.encoding import SignMode
from wasim.send.report import SendReport

_PART = re.compile(r"^([1-5])(?:xx|XX)$|^([1-5][0-9]{2})$")


@dataclass(frozen=True)
class Expectation:
    """Status codes (`401`) and classes (`4xx`) that count as the answer wanted."""

    codes: frozenset[int]
    classes: frozenset[int]
    text: str

    def matches(self, code: int) -> bool:
        return code in self.codes or code // 100 in self.classes


def parse_expect(text: str) -> Expectation:
    """`2xx` (the default), `401`, `4xx`, or several: `200,202`."""
    codes: set[int] = set()
    classes: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _PART.match(part)
        if match is None:
            raise ConfigError(f"--expect {text!r}: use status codes or classes, like 401 or 4xx")
        if match[1]:
            classes.add(int(match[1]))
        else:
            codes.add(int(match[2]))
    if not codes and not classes:
        raise ConfigError("--expect needs a status code or class, like 2xx or 401")
    return Expectation(frozenset(codes), frozenset(classes), text.replace(" ", ""))


def verdict(
    report: SendReport,
    expect: Expectation,
    endpoint: str,
    sign_mode: SignMode = "valid",
    timeout: float = 10.0,
) -> str | None:
    """None when every POST's last answer was expected; else one line saying what came back
    (the most common surprise) and its likely cause."""
    if report.sent == 0:
        return "nothing was sent"
    unexpected = {int(code): n for code, n in report.codes.items() if not expect.matches(int(code))}
    surprises: list[tuple[int, str]] = [
        (n, f"{n} of {report.sent} answered {code}{_wanted(expect)}: "
            f"{hint(code, expect, endpoint, sign_mode)}")
        for code, n in unexpected.items()
    ]  # fmt: skip
    if report.timeouts:
        surprises.append(
            (report.timeouts, f"{report.timeouts} of {report.sent} got no answer within "
             f"{timeout:g}s: is the backend overloaded? (--timeout gives it longer)")
        )  # fmt: skip
    if report.errors:
        surprises.append(
            (report.errors, f"{report.errors} of {report.sent} could not be sent: "
             f"{report.first_error or 'connection error'}")
        )  # fmt: skip
    if not surprises:
        return None
    return max(surprises, key=lambda s: s[0])[1]


def _wanted(expect: Expectation) -> str:
    return "" if expect.text == "2xx" else f" (expected {expect.text})"


def hint(code: int, expect: Expectation, endpoint: str, sign_mode: SignMode) -> str:
    """The likely cause of an answer `code` that was not expected."""
    broken = sign_mode != "valid"
    if code in (401, 403):
        if broken:
            return "the POSTs were signed wrong on purpose; --expect 401 makes that the test"
        return "is --app-secret the backend's?"
    if code in (404, 405):
        return f"is the path right? (POSTed to {endpoint})"
    if code == 400:
        return "the backend could not read the body (--style, --set?)"
    if code == 413:
        return "the body is over the backend's size limit (--batch?)"
    if code == 429:
        return "the backend is limiting the rate: lower --rate"
    if code // 100 == 5:
        return "the backend failed: its log should say why"
    if code // 100 == 2 and broken:
        return "the backend took POSTs with a wrong signature: does it check X-Hub-Signature-256?"
    if code // 100 == 3:
        return "Meta does not follow redirects: give the final URL"
    return "not what was expected"
