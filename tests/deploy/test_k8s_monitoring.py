"""deploy/k8s/components/monitoring and scale-on-in-flight, and deploy/monitoring's
ConfigMaps, rendered as an operator adds them to the prod overlay: every rule and
dashboard reaches Prometheus and Grafana, Prometheus labels the series the way the
Prometheus Adapter rules read them, and the one mcp-proxy HPA asks for the gauge those
rules serve. (The schemas, the project's checks and checkov run over this rendering in
test_k8s_manifests.py.) Only a cluster can show the HPA receiving the metric."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from switchboard_core.prometheus import catalogue
from switchboard_testing import k8s_manifests as k8s
from switchboard_testing.k8s_manifests import Manifest

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MONITORING = ROOT / "deploy" / "monitoring"
NAMESPACE = "switchboard"
# `kubectl apply` keeps the object in an annotation of at most 256 KiB.
LAST_APPLIED_LIMIT = 256 * 1024


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed"
    return found


@pytest.fixture(scope="module")
def objs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Manifest]]:
    source = k8s.overlay_with_components(
        tmp_path_factory.mktemp("k8s") / "prod-monitored",
        base=K8S / "overlays" / "prod",
        components=[K8S / "components" / "monitoring", K8S / "components" / "scale-on-in-flight"],
        namespace=NAMESPACE,
    )
    done = subprocess.run(
        [_tool("kubectl"), "kustomize", str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    yield k8s.load(done.stdout)


def _get(objs: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def _config_map(objs: list[Manifest], prefix: str) -> Manifest:
    # Generated names end in a content hash.
    matches = [
        o
        for o in objs
        if o["kind"] == "ConfigMap" and re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}", o["metadata"]["name"])
    ]
    assert len(matches) == 1, prefix
    return matches[0]


def _pod_spec(objs: list[Manifest], name: str) -> Manifest:
    return _get(objs, "Deployment", name)["spec"]["template"]["spec"]


def _mounts(spec: Manifest) -> dict[str, Manifest]:
    """Mount path -> the volume mounted there."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in spec["containers"][0]["volumeMounts"]}


def _prometheus_config(objs: list[Manifest]) -> dict:
    return yaml.safe_load(_config_map(objs, "prometheus-config")["data"]["prometheus.yml"])


def test_every_rule_and_dashboard_file_is_in_a_configmap_kubectl_apply_accepts(objs: list[Manifest]) -> None:
    files = {
        "prometheus-rules": sorted((MONITORING / "prometheus" / "rules").glob("*.yml")),
        **{
            f"grafana-dashboard-{path.stem}": [path]
            for path in sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
        },
    }
    assert len(files) >= 5 and files["prometheus-rules"]
    for prefix, paths in files.items():
        config = _config_map(objs, prefix)
        assert config["data"] == {p.name: p.read_text() for p in paths}, prefix
        assert len(json.dumps(config)) < LAST_APPLIED_LIMIT, prefix
    dashboards = [
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("grafana-dashboard-")
    ]
    assert len(dashboards) == len(files) - 1, "a dashboard ConfigMap without its file"
    assert all(d["metadata"]["labels"]["grafana_dashboard"] == "1" for d in dashboards)


def test_prometheus_mounts_its_config_and_every_rule_where_the_config_loads_them(
    objs: list[Manifest],
) -> None:
    spec = _pod_spec(objs, "prometheus")
    args = spec["containers"][0]["args"]
    mounts = _mounts(spec)
    config_path = next(a.split("=", 1)[1] for a in args if a.startswith("--config.file="))
    assert (
        mounts[config_path]["configMap"]["name"] == _config_map(objs, "prometheus-config")["metadata"]["name"]
    )
    (rules_glob,) = _prometheus_config(objs)["rule_files"]
    rules_dir = str(Path(rules_glob).parent)
    assert mounts[rules_dir]["configMap"]["name"] == _config_map(objs, "prometheus-rules")["metadata"]["name"]
    storage = next(a.split("=", 1)[1] for a in args if a.startswith("--storage.tsdb.path="))
    assert "emptyDir" in mounts[storage]


def test_the_kubernetes_prometheus_config_passes_promtool_with_pod_discovery_set_aside(
    objs: list[Manifest], tmp_path: Path
) -> None:
    """Debian's Prometheus is built without Kubernetes discovery, so promtool refuses
    `kubernetes_sd_configs`: a static target stands in for it; the relabelling, the rest
    of the config and every rule file are checked as they ship."""
    config = _prometheus_config(objs)
    (rules_glob,) = config["rule_files"]
    config["rule_files"] = [str(MONITORING / "prometheus" / "rules" / Path(rules_glob).name)]
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["10.0.0.1:8000"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [_tool("promtool"), "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for rule_file in (MONITORING / "prometheus" / "rules").glob("*.yml"):
        assert f"Checking {rule_file}" in done.stdout + done.stderr


def _relabelled(config: dict, meta: dict[str, str]) -> dict[str, str]:
    """The target labels Prometheus gives a pod (replace and keep rules only, as used)."""
    (job,) = [j for j in config["scrape_configs"] if "kubernetes_sd_configs" in j]
    labels = {"__address__": "10.1.2.3:50051", "job": job["job_name"], **meta}
    for rule in job["relabel_configs"]:
        value = ";".join(labels.get(s, "") for s in rule["source_labels"])
        found = re.fullmatch(rule.get("regex", "(.*)"), value)
        if rule.get("action", "replace") == "keep":
            if not found:
                return {}
            continue
        if found:
            labels[rule["target_label"]] = found.expand(rule.get("replacement", "$1").replace("$", "\\"))
    return {k: v for k, v in labels.items() if not k.startswith("__meta_")}


def test_prometheus_labels_each_service_and_nginx_pod_with_its_job_namespace_and_pod(
    objs: list[Manifest],
) -> None:
    config = _prometheus_config(objs)
    assert config["scrape_configs"][0]["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"own_namespace": True}}
    ]
    jobs = {s: f"switchboard-{s}" for s in ("auth", "registry", "metrics", "mcp-proxy")}
    for service, port in {**dict.fromkeys(jobs, "8000"), "nginx": "9113"}.items():
        template = _get(objs, "Deployment", service)["spec"]["template"]["metadata"]
        meta = {
            "__meta_kubernetes_namespace": NAMESPACE,
            "__meta_kubernetes_pod_name": f"{service}-7d9c-x2x4",
            "__meta_kubernetes_pod_phase": "Running",
            **{
                f"__meta_kubernetes_pod_annotation_{re.sub(r'[^a-zA-Z0-9]', '_', k)}": v
                for k, v in template["annotations"].items()
            },
            **{
                f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9]', '_', k)}": v
                for k, v in template["labels"].items()
            },
        }
        labels = _relabelled(config, meta)
        assert labels["job"] == jobs.get(service, service), labels
        assert labels["__address__"] == f"10.1.2.3:{port}"
        assert labels["__metrics_path__"] == ("/metrics" if service == "nginx" else "/internal/metrics")
        assert (labels["namespace"], labels["pod"]) == (NAMESPACE, f"{service}-7d9c-x2x4")
    # Unannotated pods (Grafana, the datastores) are not scraped.
    assert _relabelled(config, {"__meta_kubernetes_pod_phase": "Running"}) == {}


def test_mcp_proxy_has_one_hpa_and_it_scales_on_the_per_pod_in_flight_gauge_the_adapter_serves(
    objs: list[Manifest],
) -> None:
    (hpa,) = [
        o
        for o in objs
        if o["kind"] == "HorizontalPodAutoscaler" and o["spec"]["scaleTargetRef"]["name"] == "mcp-proxy"
    ]
    pods = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    gauge = catalogue.HTTP_REQUESTS_IN_FLIGHT.describe()[0]
    assert gauge.name == "switchboard_http_requests_in_flight" and gauge.type == "gauge"
    assert [p["metric"]["name"] for p in pods] == [gauge.name]
    # One series per process: per pod, once Prometheus adds namespace and pod.
    assert [s.labels for s in catalogue.HTTP_REQUESTS_IN_FLIGHT.collect()[0].samples] == [{}]
    assert pods[0]["target"]["type"] == "AverageValue" and float(pods[0]["target"]["averageValue"]) > 0

    rule = k8s.adapter_rules(objs)[gauge.name]
    series = re.fullmatch(r"(\w+)\{(.*)\}", rule["seriesQuery"])
    assert series and series.group(1) == gauge.name
    assert 'job="switchboard-mcp-proxy"' in series.group(2)
    # The labels the rule maps to Kubernetes objects are those Prometheus sets.
    relabelled = {
        rule["target_label"]
        for job in _prometheus_config(objs)["scrape_configs"]
        for rule in job.get("relabel_configs") or []
        if "target_label" in rule
    }
    overrides = rule["resources"]["overrides"]
    assert {label: v["resource"] for label, v in overrides.items()} == {
        "namespace": "namespace",
        "pod": "pod",
    }
    assert set(overrides) <= relabelled
    assert "<<.LabelMatchers>>" in rule["metricsQuery"] and "<<.GroupBy>>" in rule["metricsQuery"]


def test_the_open_sessions_alternative_is_served_too(objs: list[Manifest]) -> None:
    name = catalogue.MCP_SESSIONS_OPEN.describe()[0].name
    assert name in k8s.adapter_rules(objs)


def test_grafana_mounts_every_dashboard_at_its_provider_path_and_queries_the_rendered_prometheus(
    objs: list[Manifest],
) -> None:
    spec = _pod_spec(objs, "grafana")
    mounts = _mounts(spec)
    env = {v["name"]: v for v in spec["containers"][0]["env"]}
    provisioning = env["GF_PATHS_PROVISIONING"]["value"]
    providers = _config_map(objs, "grafana-provisioning-dashboards")
    assert mounts[f"{provisioning}/dashboards"]["configMap"]["name"] == providers["metadata"]["name"]
    (provider,) = yaml.safe_load(next(iter(providers["data"].values())))["providers"]
    projected = {s["configMap"]["name"] for s in mounts[provider["options"]["path"]]["projected"]["sources"]}
    assert projected == {
        o["metadata"]["name"]
        for o in objs
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("grafana-dashboard-")
    }
    datasources = _config_map(objs, "grafana-provisioning-datasources")
    assert mounts[f"{provisioning}/datasources"]["configMap"]["name"] == datasources["metadata"]["name"]
    (source,) = yaml.safe_load(next(iter(datasources["data"].values())))["datasources"]
    host, port = source["url"].removeprefix("http://").split(":")
    assert int(port) in {p["port"] for p in _get(objs, "Service", host)["spec"]["ports"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "switchboard-grafana"
