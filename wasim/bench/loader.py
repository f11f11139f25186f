"""Finding and loading scenario files; every error names the file, the line and the field.

`apply_overrides` changes a loaded scenario the way `wasim bench --url/--duration/...` does.
"""

from __future__ import annotations

import difflib
import importlib.resources
import re
import tomllib
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from wasim.bench.scenario import Scenario
from wasim.bench.thresholds import parse_threshold
from wasim.errors import ConfigError
from wasim.units import parse_duration

UNRESTARTABLE = (
    "a restart fault on a url backend needs [backend.restart] stop and start commands "
    "(wasim restarts by itself only the backend it spawns)"
)
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"']+)\s*=")


def scenarios_dir() -> Path:
    """Bundled scenarios: inside the installed package (wheel), else the repository's folder."""
    packaged = Path(str(importlib.resources.files("wasim") / "scenarios"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "scenarios"


def bundled_names() -> list[str]:
    folder = scenarios_dir()
    return sorted(path.stem for path in folder.glob("*.toml")) if folder.is_dir() else []


def resolve(name_or_path: str) -> Path:
    """A path to an existing file, or the name of a bundled scenario (`seed`, `ci-smoke`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = scenarios_dir() / f"{name_or_path}.toml"
    if "/" not in name_or_path and bundled.is_file():
        return bundled
    names = ", ".join(bundled_names()) or "none"
    raise ConfigError(f"no scenario file or bundled scenario {name_or_path!r} (bundled: {names})")


def load(name_or_path: str) -> Scenario:
    """Read, parse and validate a scenario, by path or bundled name."""
    path = resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc}") from None
    return loads(text, source=str(path))


def loads(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML text; errors read `source:line: field: problem`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise ConfigError(f"{source}:{line}: not valid TOML: {exc}") from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = _dotted(loc) or "(top level)"
        line = find_line(text, loc)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}:{line}: {field}: {_problem(first)}{more}") from None
    restart = scenario.unrestartable()
    if restart is not None:
        line = find_line(text, ("faults", restart, "kind"))
        raise ConfigError(f"{source}:{line}: faults[{restart}]: {UNRESTARTABLE}")
    for index, expression in enumerate(scenario.thresholds):
        try:
            parse_threshold(expression)
        except ConfigError as exc:
            line = _line_containing(text, expression) or find_line(text, ("thresholds",))
            raise ConfigError(f"{source}:{line}: thresholds[{index}]: {exc}") from None
    return scenario


def apply_overrides(
    scenario: Scenario,
    *,
    url: str | None = None,
    duration: float | str | None = None,
    rate: float | None = None,
    users: int | None = None,
    seed: int | None = None,
) -> Scenario:
    """`scenario` with the given values changed: `url` (a running backend instead of the
    spawned one), `duration` (seconds or a text such as `30s`; replaces `count`), `rate`,
    `users` (replaces `names`) and `seed`. A bad value raises ConfigError naming the option."""
    data = scenario.model_dump()
    given: list[str] = []
    if url is not None:
        data["backend"].update(url=url, spawn=False)
        given.append("--url")
    if duration is not None:
        seconds = parse_duration(duration, "--duration")
        data["traffic"].update(duration=seconds, count=None)
        given.append("--duration")
    if rate is not None:
        data["traffic"]["rate"] = rate
        given.append("--rate")
    if users is not None:
        data["users"].update(count=users, names=None)
        given.append("--users")
    if seed is not None:
        data["traffic"]["seed"] = seed
        given.append("--seed")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = _OPTIONS.get(tuple(first["loc"])) or ", ".join(given)
        raise ConfigError(f"{option}: {first['msg']}") from None


_OPTIONS: dict[tuple[int | str, ...], str] = {
    ("backend", "url"): "--url",
    ("traffic", "duration"): "--duration",
    ("traffic", "rate"): "--rate",
    ("users", "count"): "--users",
    ("traffic", "seed"): "--seed",
}


def _problem(error: ErrorDetails) -> str:
    """Pydantic's message, except for an unknown key: what was meant, and what is valid."""
    loc = tuple(error["loc"])
    model = _model_at(loc[:-1]) if loc else None
    if error["type"] != "extra_forbidden" or model is None:
        return error["msg"]
    # A table's own keys first, then those it shares with others (a client group's endpoints).
    own = vars(model).get("__annotations__", {})
    valid = sorted(model.model_fields, key=lambda name: name not in own)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
    meant = f"; did you mean {close[0]}?" if close else ""
    table = _table(loc[:-1])
    where = f"keys of {table}" if table else "top-level keys"
    return f"unknown key{meant} (valid {where}: {', '.join(valid)})"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class of the table at `loc` (list indexes skipped), or None."""
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        model = _model_in(field.annotation) if field is not None else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as `Auth`, `LoginRequest | None`, `list[...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType):
        for argument in get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None


def _table(loc: tuple[Any, ...]) -> str:
    """How the table at `loc` is written in TOML: `[auth.login]`, `[[clients]]`; "" at the top."""
    name = ".".join(part for part in loc if isinstance(part, str))
    if not name:
        return ""
    return f"[[{name}]]" if isinstance(loc[-1], int) else f"[{name}]"


def _line_containing(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _line_from_message(message: str) -> int:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else 1


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def find_line(text: str, loc: tuple[Any, ...]) -> int:
    """The 1-based line where the key at `loc` is written, or its nearest enclosing table."""
    keys = tuple(part for part in loc if isinstance(part, str))
    arrays: dict[str, int] = {}
    table: tuple[str, ...] = ()
    table_index: dict[tuple[str, ...], int] = {}
    best_line, best_depth = 1, -1
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = tuple(_unquote(part) for part in header.group(2).split("."))
            if header.group(1) == "[[":
                arrays[".".join(table)] = arrays.get(".".join(table), -1) + 1
            table_index[table] = number
            path = _with_indexes(table, arrays)
            depth = _match_depth(path, loc)
            if depth > best_depth:
                best_line, best_depth = number, depth
            continue
        key = _KEY.match(line)
        if key is None:
            continue
        path = _with_indexes(table, arrays) + tuple(
            _unquote(part) for part in key.group(1).split(".")
        )
        depth = _match_depth(path, loc)
        if depth > best_depth or (depth == best_depth and len(path) == depth == len(loc)):
            best_line, best_depth = number, depth
    if best_depth <= 0 and keys:
        for number, line in enumerate(text.splitlines(), start=1):
            if re.search(rf"\b{re.escape(keys[-1])}\b", line):
                return number
    return best_line


def _with_indexes(table: tuple[str, ...], arrays: dict[str, int]) -> tuple[Any, ...]:
    path: list[Any] = []
    for depth, part in enumerate(table, start=1):
        path.append(part)
        index = arrays.get(".".join(table[:depth]))
        if index is not None:
            path.append(index)
    return tuple(path)


def _match_depth(path: tuple[Any, ...], loc: tuple[Any, ...]) -> int:
    """How many leading parts of `loc` this line's key path covers (-1: a different branch)."""
    if len(path) > len(loc) or tuple(loc[: len(path)]) != path:
        return -1
    return len(path)


def _unquote(part: str) -> str:
    return part.strip().strip("\"'")
