"""deploy/k8s/ checked as strictly as a machine without a Kubernetes API server allows:
each overlay renders (`kubectl kustomize`), passes `kubernetes-validate --strict` for a
pinned Kubernetes version, passes the project's own checks (each shown failing on a
broken copy), the flows the NetworkPolicies allow are the design's, and checkov passes
with only the skips deploy/k8s/.checkov.yaml lists and justifies.

Besides the two overlays, `prod-monitored` is prod with both components an operator may
add (components/monitoring, components/scale-on-in-flight), rendered from a kustomization
written for the test: what only a cluster with Prometheus and its Adapter can show
(that the HPA gets the metric) is not shown here."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from switchboard_auth.settings import AuthSettings
from switchboard_metrics.settings import MetricsSettings
from switchboard_proxy.settings import ProxySettings
from switchboard_registry.settings import RegistrySettings
from switchboard_testing import k8s_manifests as k8s
from switchboard_testing.k8s_manifests import Manifest

from switchboard_cli.stack import binaries, kubernetes_nginx, nginx
from switchboard_cli.stack.accounts import daemon_account

ROOT = Path(__file__).resolve().parents[2]
_SCRAPE = "prometheus.io/scrape"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
MONITORED = "prod-monitored"
RENDERINGS = (*OVERLAYS, MONITORED)
COMPONENTS = ("monitoring", "scale-on-in-flight")
MONITORING = ROOT / "deploy" / "monitoring"
KUBERNETES_VERSION = "1.34.0"
CHECKOV = "checkov==3.3.30"
SERVICES = ("auth", "registry", "metrics", "mcp-proxy")
SETTINGS = {
    "auth": AuthSettings,
    "registry": RegistrySettings,
    "metrics": MetricsSettings,
    "mcp-proxy": ProxySettings,
}
# Who calls whose gRPC face (docs/internal-grpc.md; every service's host checks its
# callers' tokens with auth, auth's own included).
GRPC_CALLERS = {
    "auth": {"auth", "registry", "metrics", "mcp-proxy"},
    "registry": {"metrics", "mcp-proxy"},
    "metrics": {"mcp-proxy"},
    "mcp-proxy": set(),
}
SECRET_VARIABLES = {
    "SWITCHBOARD_INTERNAL_TOKEN",
    "SWITCHBOARD_SECRET_KEYS",
    "SWITCHBOARD_REDIS_URL",
    "SWITCHBOARD_AUTH_DATABASE_URL",
    "SWITCHBOARD_REGISTRY_DATABASE_URL",
    "SWITCHBOARD_METRICS_DATABASE_URL",
    "SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD",
    "SWITCHBOARD_JWT_SECRET",
    "SWITCHBOARD_JWT_PREVIOUS_SECRETS",
}


def _tool(name: str) -> str:
    # The dev group's binaries sit beside this interpreter (`uv run` puts them on PATH too).
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed: `uv sync` installs the dev group"
    return found


def _uv() -> str:
    # `uv run` names itself in UV: the scripts may run a uv that is not on PATH.
    return os.environ.get("UV") or _tool("uv")


@pytest.fixture(scope="module")
def rendered_dir() -> Iterator[Path]:
    """Each rendering once into `<name>.yaml` (the kustomizations beside, not in, it)."""
    kubectl = _tool("kubectl")
    with tempfile.TemporaryDirectory(prefix="switchboard-k8s-") as tmp:
        out = Path(tmp) / "rendered"
        out.mkdir()
        sources = {overlay: K8S / "overlays" / overlay for overlay in OVERLAYS}
        sources[MONITORED] = k8s.overlay_with_components(
            Path(tmp) / MONITORED,
            base=K8S / "overlays" / "prod",
            components=[K8S / "components" / c for c in COMPONENTS],
            namespace="switchboard",
        )
        for name, source in sources.items():
            result = subprocess.run(
                [kubectl, "kustomize", str(source)], capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, f"kubectl kustomize {name}:\n{result.stderr}"
            (out / f"{name}.yaml").write_text(result.stdout)
        yield out


@pytest.fixture(scope="module")
def rendered(rendered_dir: Path) -> dict[str, list[Manifest]]:
    return {name: k8s.load((rendered_dir / f"{name}.yaml").read_text()) for name in RENDERINGS}


def _get(objs: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def _main_container(objs: list[Manifest], service: str) -> Manifest:
    return _get(objs, "Deployment", service)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_each_overlay_renders_every_object_a_service_needs(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objs = rendered[overlay]
    for service in SERVICES:
        for kind in (
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "ServiceAccount",
            "NetworkPolicy",
        ):
            _get(objs, kind, service)
    assert {o["metadata"].get("namespace") for o in objs} == {
        "switchboard-dev" if overlay == "dev" else "switchboard"
    }


def test_rendered_overlays_pass_strict_schema_validation_without_a_warning(rendered_dir: Path) -> None:
    result = subprocess.run(
        [
            _tool("kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            *(str(rendered_dir / f"{o}.yaml") for o in RENDERINGS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    others = [line for line in output.splitlines() if line.strip() and not line.startswith("INFO ")]
    assert not others, others
    assert output.count(" passed for resource ") == sum(
        len(k8s.load((rendered_dir / f"{o}.yaml").read_text())) for o in RENDERINGS
    )


@pytest.mark.parametrize("check", sorted(k8s.CHECKS))
@pytest.mark.parametrize("overlay", RENDERINGS)
def test_project_checks_find_nothing_in_the_overlays(
    rendered: dict[str, list[Manifest]], overlay: str, check: str
) -> None:
    assert k8s.CHECKS[check](rendered[overlay]) == []


Mutation = Callable[[list[Manifest]], None]


def _deployment(name: str) -> Callable[[list[Manifest]], Manifest]:
    return lambda objs: _get(objs, "Deployment", name)


def _container(name: str) -> Callable[[list[Manifest]], Manifest]:
    return lambda objs: _main_container(objs, name)


def _set(path: Callable[[list[Manifest]], Any], key: str, value: Any) -> Mutation:
    def mutate(objs: list[Manifest]) -> None:
        path(objs)[key] = value

    return mutate


def _delete(path: Callable[[list[Manifest]], Any], key: str) -> Mutation:
    def mutate(objs: list[Manifest]) -> None:
        del path(objs)[key]

    return mutate


def _secret_ref(objs: list[Manifest]) -> Manifest:
    env = _main_container(objs, "registry")["env"]
    return next(v for v in env if v["name"] == "SWITCHBOARD_REGISTRY_DATABASE_URL")["valueFrom"][
        "secretKeyRef"
    ]


BROKEN: dict[str, tuple[str, Mutation, str]] = {
    "pod labels that the selector does not match": (
        "selectors_match_template_labels",
        _set(
            lambda o: _deployment("metrics")(o)["spec"]["template"]["metadata"]["labels"],
            "app.kubernetes.io/name",
            "metric",
        ),
        "Deployment/metrics: its selector does not match",
    ),
    "a Service selecting no pod": (
        "selectors_match_template_labels",
        _set(
            lambda o: _get(o, "Service", "auth-http")["spec"]["selector"], "app.kubernetes.io/name", "authn"
        ),
        "Service/auth-http: its selector matches no workload",
    ),
    "a disruption budget selecting no pod": (
        "selectors_match_template_labels",
        _set(
            lambda o: _get(o, "PodDisruptionBudget", "registry")["spec"]["selector"],
            "matchLabels",
            {"app": "registry"},
        ),
        "PodDisruptionBudget/registry",
    ),
    "an HPA scaling a Deployment that is not there": (
        "hpas_target_existing_workloads",
        _set(lambda o: _get(o, "HorizontalPodAutoscaler", "auth")["spec"]["scaleTargetRef"], "name", "authn"),
        "scales Deployment/authn, which is not rendered",
    ),
    "an HPA whose minimum exceeds its maximum": (
        "hpas_target_existing_workloads",
        _set(lambda o: _get(o, "HorizontalPodAutoscaler", "registry")["spec"], "minReplicas", 60),
        "minReplicas 60, maxReplicas 50",
    ),
    "a Deployment setting replicas its HPA owns": (
        "hpas_target_existing_workloads",
        _set(lambda o: _deployment("mcp-proxy")(o)["spec"], "replicas", 2),
        "Deployment/mcp-proxy sets replicas",
    ),
    "no CPU request where an HPA scales on CPU": (
        "requests_where_hpas_scale_on_utilization",
        _delete(lambda o: _main_container(o, "mcp-proxy")["resources"]["requests"], "cpu"),
        "scales on cpu, Deployment/mcp-proxy mcp-proxy requests none",
    ),
    "a container without a liveness probe": (
        "containers_are_production_ready",
        _delete(_container("auth"), "livenessProbe"),
        "Deployment/auth auth: no livenessProbe",
    ),
    "a container without a memory limit": (
        "containers_are_production_ready",
        _delete(lambda o: _main_container(o, "metrics")["resources"]["limits"], "memory"),
        "no memory limit",
    ),
    "an image tagged latest": (
        "containers_are_production_ready",
        _set(_container("registry"), "image", "switchboard:latest"),
        "is not pinned",
    ),
    "an untagged image": (
        "containers_are_production_ready",
        _set(_container("registry"), "image", "registry.example.com:5000/switchboard"),
        "is not pinned",
    ),
    "a writable root filesystem": (
        "pods_are_restricted",
        _set(lambda o: _main_container(o, "auth")["securityContext"], "readOnlyRootFilesystem", False),
        "root filesystem is writable",
    ),
    "a mounted service account token": (
        "pods_are_restricted",
        _set(
            lambda o: _deployment("nginx")(o)["spec"]["template"]["spec"],
            "automountServiceAccountToken",
            True,
        ),
        "Deployment/nginx: mounts a service account token",
    ),
    "a Secret key nobody creates": (
        "references_resolve",
        _set(_secret_ref, "key", "database-url-registy"),
        "Secret switchboard has no key 'database-url-registy'",
    ),
    "a ConfigMap that is not rendered": (
        "references_resolve",
        _set(lambda o: _main_container(o, "auth")["envFrom"][1]["configMapRef"], "name", "switchboard-authn"),
        "ConfigMap switchboard-authn is neither rendered",
    ),
    "a probe naming an undeclared port": (
        "references_resolve",
        _set(lambda o: _main_container(o, "registry")["readinessProbe"]["httpGet"], "port", "web"),
        "readinessProbe names port 'web'",
    ),
    "a service's pods not annotated for scraping": (
        "pods_are_annotated_for_scraping",
        _delete(lambda o: _deployment("registry")(o)["spec"]["template"]["metadata"]["annotations"], _SCRAPE),
        "Deployment/registry: its pods are not annotated prometheus.io/scrape",
    ),
    "a scrape port the pod does not declare": (
        "pods_are_annotated_for_scraping",
        _set(
            lambda o: _deployment("auth")(o)["spec"]["template"]["metadata"]["annotations"],
            "prometheus.io/port",
            "9000",
        ),
        "prometheus.io/port '9000' is not a port its containers declare",
    ),
    "an HPA asking for a metric no adapter rule serves": (
        "hpa_metrics_are_served",
        _set(
            lambda o: _get(o, "HorizontalPodAutoscaler", "mcp-proxy")["spec"]["metrics"][0]["pods"]["metric"],
            "name",
            "switchboard_http_requests_inflight",
        ),
        "no Prometheus Adapter rule serves switchboard_http_requests_inflight",
    ),
    "a second HPA on one Deployment": (
        "hpas_target_existing_workloads",
        lambda o: o.append(
            {
                **copy.deepcopy(_get(o, "HorizontalPodAutoscaler", "mcp-proxy")),
                "metadata": {"name": "mcp-proxy-cpu"},
            }
        ),
        "Deployment/mcp-proxy is already scaled by HorizontalPodAutoscaler/mcp-proxy",
    ),
    "a mounted token no role binding needs": (
        "pods_are_restricted",
        _delete(lambda o: _get(o, "RoleBinding", "prometheus"), "subjects"),
        "Deployment/prometheus: mounts a service account token",
    ),
    "a Service targeting an undeclared port": (
        "references_resolve",
        _set(lambda o: _get(o, "Service", "registry")["spec"]["ports"][0], "targetPort", "grcp"),
        "Service/registry: targets port 'grcp'",
    ),
}


def test_every_project_check_is_shown_failing_on_some_broken_manifest() -> None:
    assert {check for check, _, _ in BROKEN.values()} == set(k8s.CHECKS)


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_each_project_check_finds_a_broken_manifest(rendered: dict[str, list[Manifest]], broken: str) -> None:
    check, mutate, expected = BROKEN[broken]
    objs = copy.deepcopy(rendered[MONITORED])
    mutate(objs)
    findings = k8s.CHECKS[check](objs)
    assert any(expected in finding for finding in findings), (broken, findings)


def test_autoscalers_use_the_reference_figures_and_mcp_proxy_scales_down_slowly(
    rendered: dict[str, list[Manifest]],
) -> None:
    for service in SERVICES:
        prod = _get(rendered["prod"], "HorizontalPodAutoscaler", service)["spec"]
        dev = _get(rendered["dev"], "HorizontalPodAutoscaler", service)["spec"]
        assert (prod["minReplicas"], prod["maxReplicas"]) == (3, 50)
        assert dev["maxReplicas"] < prod["maxReplicas"] and dev["minReplicas"] <= prod["minReplicas"]
        targets = {m["resource"]["name"]: m["resource"]["target"] for m in prod["metrics"]}
        assert targets == {
            "cpu": {"type": "Utilization", "averageUtilization": 70},
            "memory": {"type": "Utilization", "averageUtilization": 80},
        }
    proxy = _get(rendered["prod"], "HorizontalPodAutoscaler", "mcp-proxy")["spec"]["behavior"]["scaleDown"]
    others = _get(rendered["prod"], "HorizontalPodAutoscaler", "auth")["spec"]["behavior"]["scaleDown"]
    assert proxy["stabilizationWindowSeconds"] > others["stabilizationWindowSeconds"] >= 300
    # Long streams: the proxies' pods have longer to drain than the others' (and than
    # their own SWITCHBOARD_SHUTDOWN_GRACE_S plus the preStop pause).
    grace = {
        s: _get(rendered["prod"], "Deployment", s)["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"
        ]
        for s in SERVICES
    }
    assert grace["mcp-proxy"] > grace["auth"]


def test_grpc_faces_are_headless_services_named_as_the_clients_dial_them(
    rendered: dict[str, list[Manifest]],
) -> None:
    common = _configmap_data(rendered["prod"], "switchboard-common")
    for service in ("auth", "registry", "metrics"):
        svc = _get(rendered["prod"], "Service", service)["spec"]
        assert svc["clusterIP"] == "None", f"{service}: a ClusterIP pins each gRPC client to one pod"
        assert 50051 in {p["port"] for p in svc["ports"]}
        assert common[f"SWITCHBOARD_{service.upper()}_ADDR"] == f"dns:///{service}:50051"
        # nginx, which resolves names once, goes through a ClusterIP instead.
        assert "clusterIP" not in _get(rendered["prod"], "Service", f"{service}-http")["spec"]


def _configmap_data(objs: list[Manifest], prefix: str) -> dict[str, str]:
    # Generated names end in a content hash: `switchboard-common-<hash>`.
    matches = [
        o
        for o in objs
        if o["kind"] == "ConfigMap" and re.fullmatch(rf"{prefix}-[a-z0-9]+", o["metadata"]["name"])
    ]
    assert len(matches) == 1, prefix
    return matches[0]["data"]


def _ingress_sources(objs: list[Manifest], service: str, port: str) -> set[str]:
    """The `app.kubernetes.io/name`s the NetworkPolicies let reach `service` on `port`."""
    pods = {
        s: {"app.kubernetes.io/name": s}
        for s in (*SERVICES, "nginx", "postgres", "pgbouncer", "redis", "prometheus", "grafana")
    }
    sources: set[str] = set()
    for policy in (o for o in objs if o["kind"] == "NetworkPolicy"):
        spec = policy["spec"]
        if not k8s.labels_match(spec["podSelector"], pods[service]) or "Ingress" not in spec["policyTypes"]:
            continue
        for rule in spec.get("ingress") or []:
            if not any(p["port"] == port for p in rule.get("ports") or []):
                continue
            froms = rule.get("from")
            assert froms, f"{policy['metadata']['name']}: {service}'s {port} is open to every source"
            sources |= {
                name
                for name, labels in pods.items()
                for f in froms
                if k8s.labels_match(f.get("podSelector") or {}, labels)
            }
    return sources


def _monitored(objs: list[Manifest]) -> bool:
    return any(o["kind"] == "Deployment" and o["metadata"]["name"] == "prometheus" for o in objs)


@pytest.mark.parametrize("overlay", RENDERINGS)
def test_network_policies_allow_only_the_designed_flows(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objs = rendered[overlay]
    deny = _get(objs, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    # Prometheus, where the monitoring component runs it, scrapes the HTTP ports.
    scrapers = {"prometheus"} if _monitored(objs) else set()
    for service in SERVICES:
        assert _ingress_sources(objs, service, "grpc") == GRPC_CALLERS[service], service
        assert _ingress_sources(objs, service, "http") == {"nginx"} | scrapers, service
    if scrapers:
        assert _ingress_sources(objs, "prometheus", "web") == {"grafana"}
        assert _ingress_sources(objs, "nginx", "metrics") == {"prometheus"}
        assert _ingress_sources(objs, "grafana", "web") == set()
    # A rule to anywhere names its ports, and only Prometheus has one: the API server's.
    anywhere = {
        (policy["metadata"]["name"], port["port"])
        for policy in objs
        if policy["kind"] == "NetworkPolicy"
        for rule in policy["spec"].get("egress") or []
        if not rule.get("to")
        for port in rule.get("ports") or [{"port": "every"}]
    }
    assert anywhere == ({("prometheus", 443), ("prometheus", 6443)} if scrapers else set())
    if overlay == "dev":
        assert _ingress_sources(objs, "pgbouncer", "postgres") == {"auth", "registry", "metrics"}
        assert _ingress_sources(objs, "postgres", "postgres") == {"pgbouncer"}
        assert _ingress_sources(objs, "redis", "redis") == set(SERVICES)
    # Only the services that reach upstream MCP servers may leave the cluster.
    open_egress = {
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for policy in objs
        if policy["kind"] == "NetworkPolicy"
        for rule in policy["spec"].get("egress") or []
        for to in rule.get("to") or []
        if (to.get("ipBlock") or {}).get("cidr") in ("0.0.0.0/0", "::/0")
    }
    assert open_egress == {"registry", "mcp-proxy"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_written(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objs = rendered[overlay]
    assert not [o for o in objs if o["kind"] == "Secret"]
    for config in (o for o in objs if o["kind"] == "ConfigMap"):
        assert not SECRET_VARIABLES & set(config.get("data") or {}), config["metadata"]["name"]
    for w in k8s.workloads(objs):
        for _, c in k8s.containers(w):
            for var in c.get("env") or []:
                if var["name"] in SECRET_VARIABLES or "PASSWORD" in var["name"]:
                    assert "secretKeyRef" in var.get("valueFrom", {}), (
                        f"{w['metadata']['name']}: {var['name']}"
                    )


def _variables(objs: list[Manifest], container: Manifest) -> dict[str, str]:
    found: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        config = _get(objs, "ConfigMap", source["configMapRef"]["name"])
        found.update(config["data"])
    for var in container.get("env") or []:
        found[var["name"]] = var.get("value", "<secret>")
    return found


def test_every_variable_a_service_gets_is_a_setting_it_reads(rendered: dict[str, list[Manifest]]) -> None:
    """The settings ignore unknown variables, so a misspelt one would pass unnoticed."""
    objs = rendered["prod"]
    for service in SERVICES:
        fields = {f"SWITCHBOARD_{name.upper()}" for name in SETTINGS[service].model_fields}
        for _, container in k8s.containers(_get(objs, "Deployment", service)):
            variables = _variables(objs, container)
            unknown = {v for v in variables if v.startswith("SWITCHBOARD_")} - fields
            assert not unknown, f"{service} {container['name']}: {sorted(unknown)}"


def test_the_env_files_are_valid_settings_of_each_service(rendered: dict[str, list[Manifest]]) -> None:
    objs = rendered["prod"]
    saved = dict(os.environ)
    try:
        for service in SERVICES:
            container = _main_container(objs, service)
            plain = {k: v for k, v in _variables(objs, container).items() if v != "<secret>"}
            os.environ.clear()
            os.environ.update(plain)
            settings = SETTINGS[service]()
            assert (settings.http_port, settings.grpc_port) == (8000, 50051)
            assert str(settings.data_dir) == "/var/lib/switchboard"
            assert settings.environment == "production" and not settings.migrate_on_start
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_services_with_a_database_migrate_it_before_they_start(rendered: dict[str, list[Manifest]]) -> None:
    for overlay in OVERLAYS:
        for service in SERVICES:
            spec = _get(rendered[overlay], "Deployment", service)["spec"]["template"]["spec"]
            main = spec["containers"][0]
            assert main["args"] == ["serve", service]
            inits = spec.get("initContainers", [])
            if service == "mcp-proxy":
                assert not inits
                continue
            assert [c["args"] for c in inits] == [["migrate", service]]
            assert inits[0]["image"] == main["image"]


def test_prod_pulls_its_images_always_and_keeps_datastores_outside(
    rendered: dict[str, list[Manifest]],
) -> None:
    prod, dev = rendered["prod"], rendered["dev"]
    for w in k8s.workloads(prod):
        for _, c in k8s.containers(w):
            assert c["imagePullPolicy"] == "Always", f"{w['metadata']['name']} {c['name']}"
    for name in ("pgbouncer", "redis"):
        assert _get(prod, "Service", name)["spec"]["type"] == "ExternalName"
    assert {w["metadata"]["name"] for w in k8s.workloads(prod)} == {*SERVICES, "nginx"}
    assert {w["metadata"]["name"] for w in k8s.workloads(dev)} == {
        *SERVICES,
        "nginx",
        "postgres",
        "pgbouncer",
        "redis",
        "prometheus",
        "grafana",
    }


def test_the_nginx_configmap_is_the_template_rendered_for_kubernetes() -> None:
    committed = (K8S / "base" / "nginx" / "nginx.conf").read_text()
    assert committed == kubernetes_nginx.config(), (
        "deploy/k8s/base/nginx/nginx.conf is stale: "
        "uv run python -m switchboard_cli.stack.kubernetes_nginx > deploy/k8s/base/nginx/nginx.conf"
    )


def test_the_kubernetes_nginx_config_passes_nginx_t() -> None:
    binary = binaries.find("nginx")
    assert binary, f"nginx is not installed: {binaries.APT_INSTALL}"
    # Under /tmp: when tests run as root, nginx -t runs as the daemons' account.
    with tempfile.TemporaryDirectory(prefix="switchboard-nginx-") as tmp:
        Path(tmp).chmod(0o755)
        run_dir = Path(tmp) / "nginx"
        text = kubernetes_nginx.config(run_dir=run_dir)
        # The Service names resolve only in a cluster: here, loopback stands in.
        for host in kubernetes_nginx.HTTP_SERVICES.values():
            text = text.replace(f"server {host} ", f"server 127.0.0.1:{host.rsplit(':', 1)[1]} ")
        account = daemon_account()
        nginx.check(binary, nginx.write(run_dir, text, account), account=account)


def test_checkov_passes_with_only_the_listed_and_justified_skips(
    rendered_dir: Path, rendered: dict[str, list[Manifest]]
) -> None:
    config = K8S / ".checkov.yaml"
    lines = config.read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"\s+- CKV", line)]
    assert skips, "no skips listed: then drop the list"
    for i in skips:
        assert lines[i - 1].strip().startswith("#"), f"{lines[i].strip()}: no reason given above it"
    inline = {
        (obj["metadata"]["name"], value)
        for objs in rendered.values()
        for obj in objs
        for key, value in (obj["metadata"].get("annotations") or {}).items()
        if key.startswith("checkov.io/skip")
    }
    assert inline == {("prometheus", "CKV_K8S_38=Prometheus discovers the pods it scrapes through the API")}
    result = subprocess.run(
        [
            _uv(),
            "tool",
            "run",
            "--from",
            CHECKOV,
            "checkov",
            "--config-file",
            str(config),
            "-d",
            str(rendered_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout, result.stdout[-4000:]


def test_the_docs_list_exactly_the_keys_of_the_operators_secret() -> None:
    docs = (ROOT / "docs" / "deployment.md").read_text()
    section = docs.split("### Secrets", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {key for row in rows for key in re.findall(r"`([a-z-]+)`", row.split("|")[1])}
    # `database-url-auth` / `-registry` / `-metrics` share a row.
    listed |= {f"database-url{suffix}" for suffix in listed if suffix in ("-registry", "-metrics")}
    listed -= {"-registry", "-metrics"}
    assert listed == k8s.OPERATOR_SECRETS["switchboard"]
