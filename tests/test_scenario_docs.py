"""docs/scenario.md documents every key of every scenario table, and nothing else."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from wasim.bench import Scenario, load, loads

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "scenario.md").read_text()
HEADING = re.compile(r"^#+ (?:`(?P<table>\[\[?[a-z_.]+\]\]?)`|(?P<top>Top level))\s*$")
ROW = re.compile(r"^\| `([a-z_]+)` \|")
TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)
TOP = "top level"


def nested_model(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The model inside a field's annotation, and whether it sits in a list (`[[table]]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) not in (list, Union, types.UnionType):
        return None
    for argument in get_args(annotation):
        found = nested_model(argument)
        if found is not None:
            return found[0], found[1] or get_origin(annotation) is list
    return None


def model_tables(
    model: type[BaseModel] = Scenario, name: str = "", array: bool = False
) -> Iterator[tuple[str, type[BaseModel]]]:
    """Every TOML table of the scenario (`top level`, `[backend]`, `[[clients]]`, ...)."""
    yield (f"[[{name}]]" if array else f"[{name}]") if name else TOP, model
    for key, field in model.model_fields.items():
        found = nested_model(field.annotation)
        if found is not None:
            yield from model_tables(found[0], f"{name}.{key}" if name else key, found[1])


def doc_tables() -> dict[str, list[str]]:
    """The keys of each table section of docs/scenario.md (other sections are skipped)."""
    tables: dict[str, list[str]] = {}
    current: str | None = None
    for line in DOC.splitlines():
        if line.startswith("#"):
            heading = HEADING.match(line)
            current = None if heading is None else heading["table"] or TOP
            if current is not None:
                tables.setdefault(current, [])
        elif current is not None and (row := ROW.match(line)):
            tables[current].append(row.group(1))
    return tables


MODEL_TABLES = dict(model_tables())
DOC_TABLES = doc_tables()


@pytest.mark.parametrize("table", list(MODEL_TABLES))
def test_scenario_docs_document_every_key(table: str) -> None:
    model = MODEL_TABLES[table]
    assert table in DOC_TABLES, f"docs/scenario.md has no section for {table} ({model.__name__})"
    missing = [key for key in model.model_fields if key not in DOC_TABLES[table]]
    assert not missing, f"docs/scenario.md {table}: {model.__name__} fields {missing} undocumented"


@pytest.mark.parametrize("table", list(DOC_TABLES))
def test_scenario_docs_name_only_keys_that_exist(table: str) -> None:
    assert table in MODEL_TABLES, f"docs/scenario.md documents a table {table} that does not exist"
    model = MODEL_TABLES[table]
    stale = [key for key in DOC_TABLES[table] if key not in model.model_fields]
    assert not stale, f"docs/scenario.md {table}: {stale} are not fields of {model.__name__}"


def test_scenario_docs_find_the_tables_they_check() -> None:
    assert {"[backend]", "[auth.login]", "[[clients]]", TOP} <= set(MODEL_TABLES)
    assert "kind" in DOC_TABLES["[[clients]]"]


@pytest.mark.parametrize("index", range(len(TOML_BLOCK.findall(DOC))))
def test_scenario_docs_example_loads(index: int) -> None:
    loads(TOML_BLOCK.findall(DOC)[index], source=f"docs/scenario.md example {index + 1}")


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
def test_bundled_scenario_loads(path: Path) -> None:
    assert load(str(path)).clients
