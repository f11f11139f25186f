"""deploy/kubernetes/ and the Dockerfile, checked without a cluster or a Docker engine.

Every manifest is validated against Kubernetes 1.32's schemas (kubernetes-validate, strict: an
unknown field fails) and every workload is decoded by kubectl itself (`kubectl set env --local`,
which needs no API server; `kubectl apply/create --dry-run=client` do, for discovery). Each
pod's shell command is run by /bin/sh (dash, as in the image) with a `wasim` on PATH that only
records its arguments, and those arguments are parsed by the real `wasim` command line."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer.main
import yaml
from helpers import REQUIRE_SERVICES

from wasim.bench import loads
from wasim.cli import app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(DEPLOY.rglob("*.yaml"))
DOCUMENTS = [
    (path, document)
    for path in MANIFESTS
    for document in yaml.safe_load_all(path.read_text())
    if document
]
KUBERNETES = "1.32"  # the kubectl here is a 1.32 client
WORKLOADS = {"Job", "Pod", "Deployment"}
# The flags the manifests give `wasim bench`, checked by parsing, not by reading --help.
SHARD_FLAGS = {"--url", "--shard", "--seed", "--json-file", "--metrics-port", "--metrics-host"}


def find(kind: str, name: str) -> dict[str, Any]:
    return next(d for _, d in DOCUMENTS if d["kind"] == kind and d["metadata"]["name"] == name)


def container(document: dict[str, Any]) -> dict[str, Any]:
    spec = document["spec"]
    pod = spec["template"]["spec"] if "template" in spec else spec
    (only,) = pod["containers"]
    return dict(only)


def env_of(document: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(document).get("env", []) if "value" in e}


@pytest.fixture(scope="module")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if REQUIRE_SERVICES or os.environ.get("CI"):
            pytest.fail("kubectl is not installed, and CI validates deploy/kubernetes/ with it")
        pytest.skip("kubectl is not installed (apt-get install kubectl)")
    return found


def run_pod_script(
    document: dict[str, Any], tmp_path: Path, env: dict[str, str], exit_code: int = 0
) -> tuple[int, list[str]]:
    """Run the container's `sh -c SCRIPT` with a recording `wasim` first on PATH that exits
    with `exit_code`; return the script's exit code and wasim's arguments."""
    spec = container(document)
    assert spec["command"] == ["/bin/sh", "-c"]
    (script,) = spec["args"]
    fake = tmp_path / "bin" / "wasim"
    fake.parent.mkdir(exist_ok=True)
    record = tmp_path / "argv"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\0" "$@" > {record}\nexit {exit_code}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        env={"PATH": f"{fake.parent}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, record.read_text().split("\0")[:-1]


def parse(argv: list[str]) -> Any:
    """Parse a `wasim ...` argument list with the real command line (Typer's Click), running
    nothing: an unknown command or option, or a bad value, raises its usage error."""
    command: Any = typer.main.get_command(app)
    context = command.make_context("wasim", list(argv))
    while hasattr(command, "resolve_command"):  # a group: descend into the named command
        words = [*context._protected_args, *context.args]
        name, command, words = command.resolve_command(context, words)
        context = command.make_context(name, words, parent=context)
    return context


@pytest.mark.parametrize(
    "document",
    [document for _, document in DOCUMENTS],
    ids=[f"{d['kind']}/{d['metadata']['name']}" for _, d in DOCUMENTS],
)
def test_deploy_manifest_validates_against_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_deploy_workloads_decode_with_kubectl(kubectl: str, tmp_path: Path) -> None:
    # `set env --local` takes only objects with a pod template: the workloads' own YAML text
    chunks = [c for p in MANIFESTS for c in re.split(r"^---$", p.read_text(), flags=re.M)]
    workloads = [c for c in chunks if (yaml.safe_load(c) or {}).get("kind") in WORKLOADS]
    (tmp_path / "workloads.yaml").write_text("\n---\n".join(workloads))
    command = [
        kubectl,
        "set",
        "env",
        "--local",
        "-o",
        "name",
        "-f",
        str(tmp_path / "workloads.yaml"),
    ]
    done = subprocess.run([*command, "DECODED=1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == [
        "deployment.apps/wasim-backend",
        "job.batch/wasim-merge",
        "job.batch/wasim-shards",
        "pod/wasim-results",
    ]


def test_deploy_kubectl_refuses_a_mistyped_field(kubectl: str, tmp_path: Path) -> None:
    text = (DEPLOY / "shards-job.yaml").read_text().replace("completions: 3", "completions: x")
    (tmp_path / "job.yaml").write_text(text)
    command = [kubectl, "set", "env", "--local", "-o", "name", f"-f{tmp_path / 'job.yaml'}", "A=1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "JobSpec.spec.completions of type int32" in done.stderr


def test_deploy_shard_job_is_indexed_with_one_pod_per_shard() -> None:
    job = find("Job", "wasim-shards")
    shards = int(env_of(job)["SHARDS"])
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == shards == 3
    assert job["spec"]["backoffLimitPerIndex"] == 0  # a failed shard leaves the others running
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("index", [0, 1, 2])
def test_deploy_shard_pod_command_parses_with_wasim_bench(index: int, tmp_path: Path) -> None:
    job = find("Job", "wasim-shards")
    env = env_of(job) | {"JOB_COMPLETION_INDEX": str(index), "JOB_UID": "0b6f-uid"}
    code, argv = run_pod_script(job, tmp_path, env)
    params = parse(argv).params
    assert code == 0
    assert argv[:2] == ["bench", "/scenario/scenario.toml"]
    assert SHARD_FLAGS <= set(argv)
    assert params["url"] == "http://wasim-backend:8000"
    assert params["shard"] == f"{index + 1}/3"
    assert str(params["json_file"]) == f"/results/shard-{index + 1}.json"
    assert params["metrics_port"] == 9464 and params["metrics_host"] == "0.0.0.0"


def test_deploy_shards_of_one_job_share_a_seed_and_the_next_job_gets_another(
    tmp_path: Path,
) -> None:
    job = find("Job", "wasim-shards")
    seeds = []
    for index, uid in [(0, "a-uid"), (2, "a-uid"), (0, "b-uid")]:
        env = env_of(job) | {"JOB_COMPLETION_INDEX": str(index), "JOB_UID": uid}
        argv = run_pod_script(job, tmp_path, env)[1]
        seeds.append(argv[argv.index("--seed") + 1])
    assert seeds[0] == seeds[1] != seeds[2]
    assert all(re.fullmatch(r"\d+", seed) for seed in seeds)


@pytest.mark.parametrize("code", [0, 1, 3])
def test_deploy_shard_pod_exits_with_the_bench_exit_code(code: int, tmp_path: Path) -> None:
    job = find("Job", "wasim-shards")
    env = env_of(job) | {"JOB_COMPLETION_INDEX": "0", "JOB_UID": "uid"}
    assert run_pod_script(job, tmp_path, env, exit_code=code)[0] == code


def test_deploy_shard_pod_mounts_the_scenario_and_the_results() -> None:
    job = find("Job", "wasim-shards")
    mounts = {m["name"]: m["mountPath"] for m in container(job)["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert mounts == {"scenario": "/scenario", "results": "/results"}
    assert volumes["scenario"]["configMap"]["name"] == "wasim-scenario"
    assert "scenario.toml" in find("ConfigMap", "wasim-scenario")["data"]
    assert volumes["results"]["persistentVolumeClaim"]["claimName"] == "wasim-results"
    assert find("PersistentVolumeClaim", "wasim-results")


def test_deploy_scenario_in_the_configmap_loads() -> None:
    text = find("ConfigMap", "wasim-scenario")["data"]["scenario.toml"]
    scenario = loads(text, "scenario.toml")
    shards = int(env_of(find("Job", "wasim-shards"))["SHARDS"])
    assert scenario.thresholds
    assert len(scenario.users.user_names()) >= shards  # every shard holds a user


def test_deploy_merge_pod_command_parses_with_wasim_report_merge(tmp_path: Path) -> None:
    job = copy.deepcopy(find("Job", "wasim-merge"))
    assert {m["mountPath"] for m in container(job)["volumeMounts"]} == {"/results"}
    results = tmp_path / "results"  # the volume, here
    results.mkdir()
    for shard in (1, 2, 3):
        (results / f"shard-{shard}.json").write_text("{}")
    script = container(job)["args"][0].replace("/results", str(results))
    job["spec"]["template"]["spec"]["containers"][0]["args"] = [script]
    code, argv = run_pod_script(job, tmp_path, {})
    parse(argv)
    assert code == 0
    assert argv[:2] == ["report", "merge"]
    assert argv[2:5] == [str(results / f"shard-{shard}.json") for shard in (1, 2, 3)]
    assert {"--html", "--junit", "--markdown", "--json-file"} <= set(argv)


TINY = """
name = "k8s-tiny"
thresholds = ["socketio.delivery_ratio >= 1"]

[users]
count = 6

[traffic]
rate = 10
duration = "1s"
drain = "3s"

[[clients]]
kind = "socketio"
"""


def on_this_machine(script: str, folder: Path) -> str:
    """A pod's script with its volumes in `folder` and its metrics on a free loopback port."""
    script = script.replace("/scenario/", f"{folder}/scenario/").replace("/results", f"{folder}")
    script = script.replace("--metrics-port 9464", "--metrics-port 0")
    return script.replace("--metrics-host 0.0.0.0", "--metrics-host 127.0.0.1")


def test_deploy_job_commands_run_three_shards_that_merge(tmp_path: Path, served: str) -> None:
    """The shard Job's three pods and the merge Job, as processes against `wasim serve`: the
    same commands, only the volumes' paths and the metrics port changed."""
    (tmp_path / "scenario").mkdir()
    (tmp_path / "scenario" / "scenario.toml").write_text(TINY)
    shards, merger = find("Job", "wasim-shards"), find("Job", "wasim-merge")
    env = os.environ | env_of(shards) | {"TARGET": served, "JOB_UID": "9d2c-uid"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # this wasim
    script = on_this_machine(container(shards)["args"][0], tmp_path)
    pods = [
        subprocess.Popen(
            ["/bin/sh", "-c", script],
            env=env | {"JOB_COMPLETION_INDEX": str(index)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(3)
    ]
    try:
        logs = [pod.communicate(timeout=120)[0] for pod in pods]
    finally:
        for pod in pods:
            pod.kill()
            pod.wait()
    assert [pod.returncode for pod in pods] == [0, 0, 0], logs
    merge = on_this_machine(container(merger)["args"][0], tmp_path)
    merged = subprocess.run(["/bin/sh", "-c", merge], env=env, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    parts = [json.loads((tmp_path / f"shard-{i}.json").read_text()) for i in (1, 2, 3)]
    result = json.loads((tmp_path / "merged.json").read_text())
    assert [part["shard"]["index"] for part in parts] == [1, 2, 3]
    assert len({part["seed"] for part in parts}) == 1
    assert result["groups"][0]["delivered"] == sum(p["groups"][0]["delivered"] for p in parts)
    assert result["traffic"]["messages"] == sum(p["traffic"]["messages"] for p in parts) == 10
    assert {"report.html", "junit.xml", "summary.md"} <= {p.name for p in tmp_path.iterdir()}


def test_deploy_documented_sed_changes_every_n_together() -> None:
    """docs/distributed.md's command for 10 shards, run as written (its output kept here)."""
    guide = (ROOT / "docs" / "distributed.md").read_text()
    found = re.search(r"^(sed .*?) \| kubectl apply -f -$", guide, flags=re.M | re.S)
    assert found, "docs/distributed.md has no `sed ... | kubectl apply -f -` for more shards"
    done = subprocess.run(
        ["bash", "-c", found.group(1)], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    job = yaml.safe_load(done.stdout)
    assert done.returncode == 0, done.stderr
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 10
    assert env_of(job)["SHARDS"] == "10"
    kubernetes_validate.validate(job, KUBERNETES, strict=True)


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, as (INSTRUCTION, argument text)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    steps = [line.split(maxsplit=1) for line in lines if line and not line.startswith("#")]
    return [(step[0], step[1] if len(step) > 1 else "") for step in steps]


def test_dockerfile_builds_wasim_from_the_copied_files_only(tmp_path: Path) -> None:
    """The Dockerfile's meaning without an engine (none here): the files it COPYs, and only
    those, build a wheel (its `pip install .`) whose console script is its ENTRYPOINT."""
    instructions = dockerfile()
    context = tmp_path / "src"  # its WORKDIR
    context.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")  # as .dockerignore says
    for kind, argument in instructions:
        if kind == "COPY":
            *sources, target = argument.split()
            for source in sources:
                into = context / target
                if target.endswith("/"):
                    into = into / Path(source).name
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, into, ignore=skip)
                else:
                    shutil.copy(ROOT / source, into)
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."]
    subprocess.run(build, cwd=context, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("wasim-*.whl")
    archive = zipfile.ZipFile(wheel)
    entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("RUN", "pip install '.[otlp]' && rm -rf /src") in instructions
    assert ("ENTRYPOINT", '["wasim"]') in instructions
    assert "wasim = wasim.cli:main" in archive.read(entry_points).decode()
    assert {"wasim/scenarios/ci-smoke.toml", "mock_backend/__init__.py"} <= set(archive.namelist())


def test_dockerfile_dependencies_install_from_wheels_on_the_slim_image(tmp_path: Path) -> None:
    """python:3.11-slim has no C compiler: its `pip install '.[otlp]'` must find a wheel for
    every dependency (CPython 3.11, manylinux x86_64). Resolved with pip, nothing installed."""
    target = ["--platform", "manylinux2014_x86_64", "--python-version", "3.11"]
    target += ["--implementation", "cp", "--abi", "cp311", "--target", str(tmp_path / "t")]
    command = [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed"]
    command += ["--only-binary=:all:", *target, "--report", str(tmp_path / "r.json")]
    command.append(f"{ROOT}[otlp]")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    names = {item["metadata"]["name"].lower() for item in report["install"]}
    assert {"wasim", "uvicorn", "hdrhistogram", "asyncpg", "opentelemetry-sdk"} <= names


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    copied = {
        source.rstrip("/")
        for kind, argument in dockerfile()
        if kind == "COPY"
        for source in argument.split()[:-1]
    }
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert "*" in lines
    assert allowed == copied
