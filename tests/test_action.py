"""action.yml, the composite GitHub Action, run here: its `run:` steps are executed as the runner
executes them (`bash --noprofile --norc -eo pipefail SCRIPT`, with GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, RUNNER_TEMP and GITHUB_ACTION_PATH set, `${{ ... }}` filled in, each `if`
evaluated) against `wasim serve` in a child process on a free port. Its `uses:` steps
(setup-python, upload-artifact) are not run, but what they would be given is checked. The
`install` input is `true` here (wasim is this test's own editable install); one test runs the
default install in a throwaway venv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from junitparser import JUnitXml

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS: list[dict[str, object]] = ACTION["runs"]["steps"]
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")

SCENARIO = """
name = "action"
thresholds = [{thresholds}]

[backend]
url = "http://127.0.0.1:9"

[users]
count = 2

[traffic]
rate = 10
duration = "1s"
drain = "1.5s"

[[clients]]
kind = "socketio"
"""


@dataclass
class Run:
    """What the action did: each run step's exit code, each step's outputs, the `uses:` steps'
    `with:` as the runner would pass them, and the job's step summary."""

    codes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    uses: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: str = ""
    stdout: str = ""
    stderr: str = ""


def value(name: str, context: dict[str, str]) -> str:
    """A name's value; a step output never written is '' (null), as on the runner."""
    return context.get(name, "") if name.startswith("steps.") else context[name]


def fill(text: str, context: dict[str, str]) -> str:
    """`${{ inputs.x }}`, `${{ steps.bench.outputs.y }}`: names only; anything else fails."""
    return EXPRESSION.sub(lambda match: value(match.group(1), context), text)


def condition(step: dict[str, object], context: dict[str, str], failed: bool) -> bool:
    """A step's `if`, for the forms action.yml uses: terms joined by `&&`, each a status
    function or `name == 'literal'` / `name != 'literal'`. Without a status function the
    runner adds success(): the step is skipped after a failure."""
    text = str(step.get("if", "true")).strip()
    text = text[3:-2].strip() if text.startswith("${{") else text
    terms = [term.strip() for term in text.split("&&")]
    status = {"always()": True, "!cancelled()": True, "failure()": failed, "success()": not failed}
    result = True if any(term in status for term in terms) else not failed
    for term in terms:
        if term in status:
            result = result and status[term]
        elif term != "true":
            compared = re.fullmatch(r"([\w.-]+) (==|!=) '([^']*)'", term)
            assert compared, f"teach this test the condition {term!r}"
            name, operator, literal = compared.groups()
            result = result and ((value(name, context) == literal) == (operator == "=="))
    return result


def context_for(**given: str) -> dict[str, str]:
    """The expression context: the inputs given (dashes as underscores) over their defaults."""
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    for name, text in given.items():
        assert name.replace("_", "-") in inputs, f"action.yml has no input {name}"
        inputs[name.replace("_", "-")] = text
    context = {f"inputs.{name}": text for name, text in inputs.items()}
    return context | {"github.action_path": str(ROOT)}


def uses_with(step: dict[str, object], context: dict[str, str]) -> dict[str, str]:
    """What the runner would give a `uses:` step."""
    with_ = step.get("with", {})
    assert isinstance(with_, dict)
    return {key: fill(str(value), context) for key, value in with_.items()}


def step_using(action: str) -> dict[str, object]:
    return next(step for step in STEPS if str(step.get("uses", "")).startswith(action + "@"))


def run_action(
    tmp_path: Path, path: Path | None = None, until: str | None = None, **given: str
) -> Run:
    """Run the action's steps in order with these inputs; after a failing step only the steps
    whose `if` asks for it, as the runner does. Stop after the step whose id is `until`; `path`
    goes first on PATH (default: this test's venv)."""
    context = context_for(**given)
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary = tmp_path / "step-summary.md"
    env = {
        **os.environ,
        "PATH": f"{path or Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(temp),
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    run, failed = Run(), False
    for number, step in enumerate(STEPS):
        name = str(step.get("id", number))
        if not condition(step, context, failed):
            continue
        if "uses" in step:
            run.uses[str(step["uses"]).split("@")[0]] = uses_with(step, context)
            continue
        output = temp / f"output-{number}"
        output.touch()
        script = temp / f"step-{number}.sh"
        script.write_text(str(step["run"]))
        step_env = step.get("env", {})
        assert isinstance(step_env, dict)
        cwd = tmp_path / fill(str(step.get("working-directory", ".")), context)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env={**env, "GITHUB_OUTPUT": str(output)}
            | {k: fill(str(v), context) for k, v in step_env.items()},
            capture_output=True,
            text=True,
            timeout=120,
        )
        run.codes[name] = done.returncode
        run.stdout, run.stderr = run.stdout + done.stdout, run.stderr + done.stderr
        run.outputs[name] = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
        )
        context |= {f"steps.{name}.outputs.{k}": v for k, v in run.outputs[name].items()}
        failed = done.returncode != 0
        if name == until:
            break
    run.summary = summary.read_text() if summary.exists() else ""
    return run


def checkout(tmp_path: Path, *thresholds: str) -> None:
    """A checkout-like folder, repo/, holding the scenario the action is pointed at."""
    (tmp_path / "repo").mkdir()
    quoted = ", ".join(f'"{t}"' for t in thresholds)
    (tmp_path / "repo" / "action.toml").write_text(SCENARIO.format(thresholds=quoted))


def bench_in_checkout(tmp_path: Path, url: str, *thresholds: str, **given: str) -> Run:
    checkout(tmp_path, *thresholds)
    return run_action(
        tmp_path,
        scenario="action.toml",
        url=url,
        install="true",
        working_directory="repo",
        **given,
    )


def test_action_passing_thresholds_write_summary_and_reports_and_exit_zero(
    tmp_path: Path, served: str
) -> None:
    run = bench_in_checkout(tmp_path, served, "socketio.delivery_ratio >= 1")
    report = tmp_path / "repo" / "wasim-report"
    suites = JUnitXml.fromfile(str(report / "junit.xml"))
    assert run.codes == {"install": 0, "bench": 0}, run.stderr
    assert run.outputs["bench"] == {
        "report-dir": str(report),
        "html": str(report / "report.html"),
        "junit": str(report / "junit.xml"),
        "exit-code": "0",
    }
    assert run.summary == (report / "summary.md").read_text()
    assert "| requests/user/hour |" in run.summary
    assert "PASS" in (report / "report.html").read_text()
    assert [(c.name, c.is_passed) for s in suites for c in s] == [
        ("socketio.delivery_ratio >= 1", True)
    ]


def test_action_failing_threshold_fails_the_step_with_exit_one_and_still_uploads(
    tmp_path: Path, served: str
) -> None:
    run = bench_in_checkout(tmp_path, served, "socketio.latency.p50 < 1us")
    report = tmp_path / "repo" / "wasim-report"
    assert run.codes["bench"] == 1
    assert run.outputs["bench"]["exit-code"] == "1"
    assert "socketio.latency.p50 < 1us" in run.summary
    assert "FAIL: 1 check(s) failed" in (report / "report.html").read_text()
    assert "!cancelled()" in str(step_using("actions/upload-artifact")["if"])
    assert run.uses["actions/upload-artifact"] == {
        "name": "wasim-report",
        "path": str(report),
        "if-no-files-found": "warn",
    }
    assert sorted(p.name for p in report.iterdir()) == [
        "junit.xml",
        "report.html",
        "result.json",
        "summary.md",
    ]


def test_action_args_are_split_like_shell_words_and_passed_to_bench(
    tmp_path: Path, backend_url: str
) -> None:
    run = bench_in_checkout(
        tmp_path, backend_url, args="--seed 4242 --users '1'", report_dir="out/bench"
    )
    result = json.loads((tmp_path / "repo" / "out" / "bench" / "result.json").read_text())
    assert run.codes["bench"] == 0, run.stderr
    assert result["seed"] == 4242
    assert result["groups"][0]["clients"] == 1


def test_action_unbalanced_quote_in_args_exits_two_with_one_error_line(tmp_path: Path) -> None:
    run = run_action(tmp_path, args="--users '3", install="true")
    assert run.codes["bench"] == 2
    assert run.outputs["bench"]["exit-code"] == "2"
    assert "::error::wasim action: the args input is not valid shell words" in run.stdout
    assert run.stderr.strip() == "args: No closing quotation"
    assert "actions/upload-artifact" not in run.uses  # no report folder: nothing to upload


def test_action_gives_setup_python_the_requested_version() -> None:
    setup = step_using("actions/setup-python")
    assert uses_with(setup, context_for(python_version="3.12")) == {"python-version": "3.12"}
    assert setup["if"] == "inputs.setup-python == 'true'"


def test_action_default_install_installs_the_action_checkout(tmp_path: Path) -> None:
    """The default `install` in a fresh venv that borrows this one's dependencies through a
    .pth file (so only the build backend is fetched): wasim lands in the fresh venv."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    fresh = subprocess.check_output([venv / "bin" / "python", "-c", where], text=True).strip()
    borrowed = sysconfig.get_path("purelib")
    (Path(fresh) / "borrowed.pth").write_text(f"import site; site.addsitedir({borrowed!r})\n")
    run = run_action(tmp_path, path=venv / "bin", until="install")
    show = [venv / "bin" / "python", "-m", "pip", "show", "-f", "wasim"]
    shown = subprocess.run(show, capture_output=True, text=True, timeout=60).stdout
    assert run.codes == {"install": 0}, run.stderr
    assert f"Location: {fresh}" in shown
    assert "wasim/scenarios/ci-smoke.toml" in shown


def check_schema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of the schemas it ships (SchemaStore's, no network)."""
    command = [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", schema]
    return subprocess.run([*command, path], capture_output=True, text=True, timeout=60)


def test_action_metadata_follows_the_github_actions_schema() -> None:
    done = check_schema("vendor.github-actions", ROOT / "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_schema_check_refuses_a_run_step_without_a_shell(tmp_path: Path) -> None:
    text = (ROOT / "action.yml").read_text().replace("shell: bash", "", 1)
    (tmp_path / "action.yml").write_text(text)
    assert check_schema("vendor.github-actions", tmp_path / "action.yml").returncode == 1


def test_action_documented_workflow_follows_the_github_workflows_schema(tmp_path: Path) -> None:
    guide = (ROOT / "docs" / "github-action.md").read_text()
    workflow = re.search(r"```yaml\n(name: .*?)```", guide, flags=re.S)
    assert workflow, "docs/github-action.md has no workflow example"
    (tmp_path / "workflow.yml").write_text(workflow.group(1))
    steps = yaml.safe_load(workflow.group(1))["jobs"]["bench"]["steps"]
    used = next(step for step in steps if str(step.get("uses", "")).endswith("/wasim@v0.1.0"))
    done = check_schema("vendor.github-workflows", tmp_path / "workflow.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(used["with"]) <= set(ACTION["inputs"])
