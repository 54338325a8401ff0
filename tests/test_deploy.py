"""deploy/: the instance config loads as a Dagster instance, the Helm values and the Dockerfile
name the code location of pyproject.toml, and that location loads."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
WRITER_TAG = "riskalloc/duckdb-writer"


def dagster_table() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dagster"]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def user_deployment() -> dict:
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    deployments = values["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    return deployments[0]


def test_instance_config_loads_with_its_limits(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_STORAGE_DIR", str(tmp_path / "storage"))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        coord = instance.run_coordinator
        assert type(coord).__name__ == "QueuedRunCoordinator"
        limits = {t["key"]: t["limit"] for t in coord.get_run_queue_config().tag_concurrency_limits}
        assert limits[WRITER_TAG] == 1
        assert limits["dagster/backfill"] < coord.get_run_queue_config().max_concurrent_runs
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert (tmp_path / "storage").is_dir()  # the run storage lives where the env says


def test_helm_values_name_the_code_location():
    d = user_deployment()
    table = dagster_table()
    assert d["name"] == table["code_location_name"]
    args = d["dagsterApiGrpcArgs"]
    module = args[args.index("--module-name") + 1]
    assert module == table["module_name"]
    defs = importlib.import_module(module).defs
    assert isinstance(defs, dg.Definitions)
    env = {e["name"]: e.get("value") for e in d["env"]}
    assert env["RISKALLOC_EXECUTOR"] == "in_process"  # main_job shares one DuckDB writer
    mount = d["volumeMounts"][0]["mountPath"]
    assert env["RISKALLOC_DB"].startswith(mount.rstrip("/") + "/")
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert {t["key"]: t["limit"] for t in queue["tagConcurrencyLimits"]}[WRITER_TAG] == 1


def test_the_duckdb_writer_tag_is_on_the_writing_jobs_only():
    from pipelines.definitions import defs

    jobs = defs.get_repository_def().get_all_jobs()
    tagged = {j.name for j in jobs if j.tags.get(WRITER_TAG) == "true"}
    assert {"main_job", "nightly_job", "grid_summary_job", "selection_summary_job"} <= tagged
    assert not tagged & {"grid_job", "selection_job"}  # partitions write their own files


def test_dockerfile_builds_the_project_image():
    steps = dockerfile()
    assert steps[0][0] == "FROM"
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for op, a in steps if op == "ARG" and "=" in a}
    make_torch = re.search(r"^TORCH_VERSION \?= (\S+)", (REPO / "Makefile").read_text(), re.M)
    assert args["TORCH_VERSION"] == make_torch.group(1) == "2.13.0"
    runs = [a for op, a in steps if op == "RUN"]
    torch_i = next(i for i, r in enumerate(runs) if "torch==${TORCH_VERSION}" in r)
    proj_i = next(i for i, r in enumerate(runs) if re.search(r"pip install -e \"?\.\[", r))
    assert torch_i < proj_i  # torch pinned first
    extras = re.search(r"\.\[([\w,]+)\]", runs[proj_i]).group(1).split(",")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "pipelines" in extras
    assert set(extras) <= set(declared["optional-dependencies"])
    copies = [shlex.split(a) for op, a in steps if op == "COPY"]
    copied = {src for c in copies for src in c[:-1]}
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pkg in ("riskalloc", "pipelines", "pyproject.toml"):
        assert pkg in copied
        assert (REPO / pkg).exists()  # the build context has it
    assert all(p.rstrip("*") in copied for p in packages["packages"]["find"]["include"])
    env = " ".join(a for op, a in steps if op == "ENV")
    home = re.search(r"DAGSTER_HOME=(\S+)", env).group(1)
    assert ["deploy/dagster.yaml", "${DAGSTER_HOME}/dagster.yaml"] in copies and home
    cmd = next(a for op, a in steps if op == "CMD")
    assert dagster_table()["module_name"] in cmd
    validate = next(r for r in runs if "definitions validate" in r)
    assert dagster_table()["module_name"] in validate


@pytest.mark.slow
def test_dagster_validates_the_definitions_with_the_image_instance(tmp_path):
    """What the image build runs: ``dagster definitions validate`` against deploy/dagster.yaml."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_STORAGE_DIR": str(tmp_path / "s")}
    exe = Path(sys.executable).with_name("dagster")
    validate = next(a for op, a in dockerfile() if op == "RUN" and "definitions validate" in a)
    res = subprocess.run(
        [str(exe), *shlex.split(validate)[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "riskalloc" in res.stdout + res.stderr or "success" in (res.stdout + res.stderr).lower()
