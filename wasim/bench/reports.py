"""Report files for CI: Markdown (and the GitHub step summary), JUnit XML, JSON, HTML."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from wasim.bench import html, matrix
from wasim.bench.png import write_png
from wasim.bench.results import BenchResult
from wasim.errors import ConfigError


def markdown(result: BenchResult) -> str:
    """The comparison matrix and verdicts as GitHub-flavoured Markdown."""
    header = "| | " + " | ".join(f"{g.name}" for g in result.groups) + " |"
    lines = [f"### {matrix.title(result)}", "", header]
    lines.append("|---|" + "---:|" * len(result.groups))
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in matrix.rows(result)]
    notes = matrix.notes(result)
    if notes:
        lines += ["", *[f"> {note}" for note in notes]]
    if result.thresholds or result.regressions:
        lines.append("")
    for outcome in result.thresholds:
        lines.append(f"- {'✅' if outcome.passed else '❌'} {outcome.message}")
    for r in result.regressions:
        if not r.passed:
            lines.append(
                f"- ❌ {r.figure} regressed {r.change:+.0%} ({r.baseline:.4g} → {r.actual:.4g})"
            )
    return "\n".join(lines) + "\n"


def junit(result: BenchResult) -> str:
    """One test case per threshold (and per compared baseline figure, and per column that
    could not connect)."""
    suite_name = f"wasim bench {result.scenario}"
    cases: list[ET.Element] = []
    for outcome in result.thresholds:
        name = outcome.expression
        case = ET.Element("testcase", classname=f"wasim.bench.{result.scenario}", name=name)
        if not outcome.passed:
            failure = ET.SubElement(case, "failure", message=outcome.message, type="threshold")
            failure.text = outcome.message
        cases.append(case)
    for group in result.groups:
        if group.failed:
            name = f"{group.name} connects"
            case = ET.Element("testcase", classname=f"wasim.bench.{result.scenario}", name=name)
            message = f"{group.name} could not connect: {group.failure}"
            ET.SubElement(case, "failure", message=message, type="connect").text = message
            cases.append(case)
    for r in result.regressions:
        case = ET.Element(
            "testcase", classname=f"wasim.bench.{result.scenario}.baseline", name=r.figure
        )
        if not r.passed:
            message = f"{r.figure} regressed {r.change:+.0%} ({r.baseline:.4g} → {r.actual:.4g})"
            ET.SubElement(case, "failure", message=message, type="regression").text = message
        cases.append(case)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    suites = ET.Element("testsuites", name=suite_name)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{result.duration_s:.3f}",
    )
    if result.suspect:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="suspect", value="true")
        for reason in result.saturation.reasons:
            ET.SubElement(properties, "property", name="suspect.reason", value=reason)
    suite.extend(cases)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_reports(
    result: BenchResult,
    *,
    json_file: Path | None = None,
    junit_file: Path | None = None,
    markdown_file: Path | None = None,
    html_file: Path | None = None,
    png_file: Path | None = None,
) -> None:
    """Write the requested files; append the Markdown to $GITHUB_STEP_SUMMARY when it is set."""
    if json_file is not None:
        write(json_file, json.dumps(result.document(), indent=2) + "\n")
    if junit_file is not None:
        write(junit_file, junit(result))
    if markdown_file is not None:
        write(markdown_file, markdown(result))
    if html_file is not None:
        write(html_file, html.document(result))
    if png_file is not None:
        write_png(result, png_file)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown(result))
        except OSError as exc:
            raise ConfigError(f"cannot append to GITHUB_STEP_SUMMARY: {exc}") from None
