"""deploy/compose/compose.yaml read as a file: its switchboard containers run as the
Kubernetes Deployments run them, every image is a variable with a public default, and
every dependency waits on health or completion."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
K8S_BASE = ROOT / "deploy" / "k8s" / "base"
SERVICES = ("auth", "registry", "metrics", "mcp-proxy")
SECRETS_FILE = "${SWITCHBOARD_SECRETS_FILE:-secrets.env}"


def _compose() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())["services"]


def _deployment(service: str) -> dict:
    documents = yaml.safe_load_all((K8S_BASE / f"{service}.yaml").read_text())
    (deployment,) = [d for d in documents if d and d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]


def _config_map_envs() -> dict[str, Path]:
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    return {
        generator["name"]: (K8S_BASE / generator["envs"][0]).resolve()
        for generator in kustomization["configMapGenerator"]
        if "envs" in generator
    }


def _secret_variables() -> set[str]:
    lines = (COMPOSE_DIR / "secrets.env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}


def test_each_service_runs_the_command_and_the_env_files_of_its_kubernetes_deployment() -> None:
    compose, envs = _compose(), _config_map_envs()
    for service in SERVICES:
        (container,) = [c for c in _deployment(service)["containers"] if c["name"] == service]
        assert compose[service]["command"] == container["args"], service
        files = [f for f in compose[service]["env_file"] if f != SECRETS_FILE]
        assert [(COMPOSE_DIR / f).resolve() for f in files] == [
            envs[source["configMapRef"]["name"]] for source in container["envFrom"]
        ], service
        assert SECRETS_FILE in compose[service]["env_file"], service


def test_every_secret_a_deployment_reads_has_its_variable_in_the_compose_secrets_example() -> None:
    wanted = {
        variable["name"]
        for service in SERVICES
        for container in _deployment(service)["containers"] + _deployment(service).get("initContainers", [])
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    assert wanted and wanted <= _secret_variables(), wanted - _secret_variables()


def test_every_image_is_a_variable_with_a_pinned_public_default() -> None:
    for name, service in _compose().items():
        found = re.fullmatch(r"\$\{[A-Z_]+_IMAGE:-([^}]+)\}", service["image"])
        assert found, (name, service["image"])
        default = found.group(1)
        assert ":" in default and not default.endswith(":latest"), (name, default)


def test_every_dependency_waits_for_health_or_completion() -> None:
    compose = _compose()
    for name, service in compose.items():
        for dependency, condition in service.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully"
                if compose[dependency].get("restart") == "no"
                else "service_healthy"
            )
            assert condition == {"condition": wanted}, (name, dependency, condition)
            if wanted == "service_healthy":
                # The switchboard services take the image's HEALTHCHECK command.
                assert not compose[dependency]["healthcheck"].get("disable"), dependency
