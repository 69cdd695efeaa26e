"""What a Kubernetes schema cannot see in rendered manifests (`kubectl kustomize`
output): references between objects and the rules this project holds every workload
to. Each check takes the rendered objects and returns its findings (empty: passed), so
a test can show it both passing on `deploy/k8s/` and failing on a broken copy.

`OPERATOR_SECRETS` is the one list of the Secrets the operator creates before applying
an overlay (docs/deployment.md shows the `kubectl create secret` lines): a reference to
a Secret or key that is neither rendered nor listed there is a finding.

Monitoring (deploy/k8s/components/monitoring, scale-on-in-flight): every pod running a
Switchboard service is annotated for scraping at a port it declares, and every custom
metric an HPA asks for is one a rendered Prometheus Adapter rule serves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

# Secret name -> its keys. `switchboard` is shared with Compose (same meanings, as
# SWITCHBOARD_* variables in the env file made from deploy/compose/secrets.env.example).
OPERATOR_SECRETS: Mapping[str, frozenset[str]] = {
    "switchboard": frozenset(
        {
            "internal-token",
            "secret-keys",
            "database-url-auth",
            "database-url-registry",
            "database-url-metrics",
            "redis-url",
            "bootstrap-admin-password",
        }
    ),
    # Only the dev overlay's in-cluster Postgres and PgBouncer use it.
    "switchboard-dev-postgres": frozenset({"password"}),
    # Only components/monitoring's Grafana uses it.
    "switchboard-grafana": frozenset({"admin-password"}),
}

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})
_PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
_HPA_RESOURCES = {"cpu", "memory"}
_SCRAPE = "prometheus.io/scrape"
# The label of the ConfigMaps holding Prometheus Adapter rules (key `config.yaml`).
ADAPTER_LABEL = ("app.kubernetes.io/name", "prometheus-adapter")


def load(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def overlay_with_components(
    directory: Path, *, base: Path, components: Sequence[Path], namespace: str
) -> Path:
    """A kustomization in `directory` (made here) of `base` with `components` added, as an
    operator's own overlay would add them; `kubectl kustomize <directory>` renders it."""
    directory.mkdir()
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        f"namespace: {namespace}",
        "resources:",
        f"  - {os.path.relpath(base, directory)}",
        "components:",
        *(f"  - {os.path.relpath(c, directory)}" for c in components),
    ]
    (directory / "kustomization.yaml").write_text("\n".join(lines) + "\n")
    return directory


def _name(obj: Manifest) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def workloads(objs: Iterable[Manifest]) -> Iterator[Manifest]:
    return (o for o in objs if o["kind"] in WORKLOAD_KINDS)


def _pod_spec(workload: Manifest) -> Manifest:
    return workload["spec"]["template"]["spec"]


def containers(workload: Manifest, *, init: bool = True) -> Iterator[tuple[str, Manifest]]:
    """(`initContainers` or `containers`, the container) of a workload's pod template."""
    spec = _pod_spec(workload)
    kinds = ("initContainers", "containers") if init else ("containers",)
    for kind in kinds:
        for container in spec.get(kind) or []:
            yield kind, container


def labels_match(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _template_labels(objs: Iterable[Manifest]) -> list[tuple[str, dict[str, str]]]:
    return [(_name(w), w["spec"]["template"]["metadata"].get("labels") or {}) for w in workloads(objs)]


def selectors_match_template_labels(objs: list[Manifest]) -> list[str]:
    """A workload selects its own pods; every Service, PodDisruptionBudget and
    (non-empty) NetworkPolicy selector selects some workload's pods."""
    found = []
    for w in workloads(objs):
        selector = w["spec"].get("selector") or {}
        if w["kind"] != "Job" and not labels_match(
            selector, w["spec"]["template"]["metadata"].get("labels") or {}
        ):
            found.append(f"{_name(w)}: its selector does not match its pod template's labels")
    pods = _template_labels(objs)
    for obj in objs:
        kind, spec = obj["kind"], obj.get("spec") or {}
        if kind == "Service" and spec.get("type") != "ExternalName":
            selector: Mapping[str, Any] | None = {"matchLabels": spec.get("selector") or {}}
            if not spec.get("selector"):
                found.append(f"{_name(obj)}: selects no pods at all")
                continue
        elif kind == "PodDisruptionBudget":
            selector = spec.get("selector")
        elif kind == "NetworkPolicy":
            selector = spec.get("podSelector")
            if not (selector or {}).get("matchLabels") and not (selector or {}).get("matchExpressions"):
                continue  # {} selects every pod of the namespace on purpose
        else:
            continue
        if not any(labels_match(selector or {}, labels) for _, labels in pods):
            found.append(f"{_name(obj)}: its selector matches no workload's pods")
    return found


def hpas_target_existing_workloads(objs: list[Manifest]) -> list[str]:
    """Every HPA scales a workload that exists, with 1 <= min <= max, and that workload
    leaves `replicas` to it (an apply would otherwise reset the count); no workload has
    two (they would fight over the count)."""
    found = []
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    scaled: dict[tuple[str, str], str] = {}
    for hpa in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        spec = hpa["spec"]
        ref = spec["scaleTargetRef"]
        if (other := scaled.setdefault((ref["kind"], ref["name"]), _name(hpa))) != _name(hpa):
            found.append(f"{_name(hpa)}: {ref['kind']}/{ref['name']} is already scaled by {other}")
        target = by_name.get((ref["kind"], ref["name"]))
        if target is None:
            found.append(f"{_name(hpa)}: scales {ref['kind']}/{ref['name']}, which is not rendered")
        elif "replicas" in target["spec"]:
            found.append(f"{_name(hpa)}: {_name(target)} sets replicas, which the autoscaler owns")
        low, high = spec.get("minReplicas", 1), spec["maxReplicas"]
        if not 1 <= low <= high:
            found.append(f"{_name(hpa)}: minReplicas {low}, maxReplicas {high}")
    return found


def requests_where_hpas_scale_on_utilization(objs: list[Manifest]) -> list[str]:
    """Utilization is a share of the request: every container of a workload an HPA
    scales on CPU (memory) utilization requests CPU (memory)."""
    found = []
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    for hpa in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        target = by_name.get((ref["kind"], ref["name"]))
        if target is None:
            continue  # hpas_target_existing_workloads says so
        resources = {
            m["resource"]["name"]
            for m in hpa["spec"].get("metrics") or []
            if m["type"] == "Resource" and m["resource"]["target"]["type"] == "Utilization"
        }
        for resource in sorted(resources & _HPA_RESOURCES):
            for _, c in containers(target, init=False):
                if resource not in ((c.get("resources") or {}).get("requests") or {}):
                    found.append(
                        f"{_name(hpa)}: scales on {resource}, {_name(target)} {c['name']} requests none"
                    )
    return found


def containers_are_production_ready(objs: list[Manifest]) -> list[str]:
    """Every container has CPU and memory limits and a pinned image (a tag that is not
    `latest`, or a digest); every long-running one the three probes."""
    found = []
    for w in workloads(objs):
        for kind, c in containers(w):
            where = f"{_name(w)} {c['name']}"
            limits = (c.get("resources") or {}).get("limits") or {}
            found += [f"{where}: no {r} limit" for r in ("cpu", "memory") if r not in limits]
            if not _pinned(c.get("image", "")):
                found.append(f"{where}: image {c.get('image')!r} is not pinned to a tag or digest")
            if kind == "containers":
                found += [f"{where}: no {p}" for p in _PROBES if p not in c]
    return found


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def pods_are_restricted(objs: list[Manifest]) -> list[str]:
    """The restricted profile, for every container: non-root, no privilege escalation,
    read-only root filesystem, every capability dropped, seccomp RuntimeDefault; and a
    service account of its own, with a mounted token only where a RoleBinding grants the
    account something (Prometheus lists pods)."""
    found = []
    bound = {
        subject["name"]
        for o in objs
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for subject in o.get("subjects") or []
        if subject["kind"] == "ServiceAccount"
    }
    for w in workloads(objs):
        spec = _pod_spec(w)
        pod = spec.get("securityContext") or {}
        needs_token = spec.get("serviceAccountName") in bound
        if spec.get("automountServiceAccountToken") is not False and not needs_token:
            found.append(f"{_name(w)}: mounts a service account token")
        if spec.get("serviceAccountName") in (None, "default"):
            found.append(f"{_name(w)}: runs as the namespace's default service account")
        for _, c in containers(w):
            sc = c.get("securityContext") or {}
            where = f"{_name(w)} {c['name']}"
            if not sc.get("runAsNonRoot", pod.get("runAsNonRoot")):
                found.append(f"{where}: may run as root")
            if sc.get("allowPrivilegeEscalation") is not False:
                found.append(f"{where}: allows privilege escalation")
            if sc.get("readOnlyRootFilesystem") is not True:
                found.append(f"{where}: root filesystem is writable")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                found.append(f"{where}: keeps capabilities")
            seccomp = sc.get("seccompProfile") or pod.get("seccompProfile") or {}
            if seccomp.get("type") != "RuntimeDefault":
                found.append(f"{where}: no RuntimeDefault seccomp profile")
    return found


def references_resolve(
    objs: list[Manifest], operator_secrets: Mapping[str, frozenset[str]] = OPERATOR_SECRETS
) -> list[str]:
    """Every ConfigMap, Secret, key, ServiceAccount and named port a workload refers to
    exists in the rendered objects, or (Secrets) in what the operator creates."""
    data: dict[tuple[str, str], set[str]] = {}
    for o in objs:
        if o["kind"] in ("ConfigMap", "Secret"):
            data[(o["kind"], o["metadata"]["name"])] = (
                set(o.get("data") or {}) | set(o.get("stringData") or {}) | set(o.get("binaryData") or {})
            )
    for name, keys in operator_secrets.items():
        data.setdefault(("Secret", name), set()).update(keys)
    accounts = {o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount"}
    found = []

    def need(where: str, kind: str, name: str, key: str | None = None, *, optional: bool = False) -> None:
        keys = data.get((kind, name))
        if keys is None:
            if not optional:
                found.append(f"{where}: {kind} {name} is neither rendered nor created by the operator")
        elif key is not None and key not in keys and not optional:
            found.append(f"{where}: {kind} {name} has no key {key!r}")

    for w in workloads(objs):
        spec = _pod_spec(w)
        account = spec.get("serviceAccountName")
        if account and account not in accounts:
            found.append(f"{_name(w)}: ServiceAccount {account} is not rendered")
        for volume in spec.get("volumes") or []:
            if "configMap" in volume:
                need(f"{_name(w)} volume {volume['name']}", "ConfigMap", volume["configMap"]["name"])
            for source in (volume.get("projected") or {}).get("sources") or []:
                if "configMap" in source:
                    need(f"{_name(w)} volume {volume['name']}", "ConfigMap", source["configMap"]["name"])
            if "secret" in volume:
                need(f"{_name(w)} volume {volume['name']}", "Secret", volume["secret"]["secretName"])
        for _, c in containers(w):
            where = f"{_name(w)} {c['name']}"
            for source in c.get("envFrom") or []:
                for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if field in source:
                        need(
                            where, kind, source[field]["name"], optional=source[field].get("optional", False)
                        )
            for var in c.get("env") or []:
                for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    ref = (var.get("valueFrom") or {}).get(field)
                    if ref:
                        need(
                            f"{where} {var['name']}",
                            kind,
                            ref["name"],
                            ref["key"],
                            optional=ref.get("optional", False),
                        )
            found += _named_ports_resolve(where, c)
    found += _service_ports_resolve(objs)
    return found


def _named_ports_resolve(where: str, container: Manifest) -> list[str]:
    names = {p["name"] for p in container.get("ports") or [] if "name" in p}
    found = []
    for probe in _PROBES:
        action = container.get(probe) or {}
        for handler in ("httpGet", "tcpSocket", "grpc"):
            port = (action.get(handler) or {}).get("port")
            if isinstance(port, str) and port not in names:
                found.append(f"{where}: {probe} names port {port!r}, which the container does not declare")
    return found


def _service_ports_resolve(objs: list[Manifest]) -> list[str]:
    found = []
    pods = [
        (w["spec"]["template"]["metadata"].get("labels") or {}, [c for _, c in containers(w, init=False)])
        for w in workloads(objs)
    ]
    for svc in (o for o in objs if o["kind"] == "Service" and o["spec"].get("selector")):
        for labels, pod_containers in pods:
            if not labels_match({"matchLabels": svc["spec"]["selector"]}, labels):
                continue
            names = {p["name"] for c in pod_containers for p in c.get("ports") or [] if "name" in p}
            numbers = {p["containerPort"] for c in pod_containers for p in c.get("ports") or []}
            for port in svc["spec"].get("ports") or []:
                target = port.get("targetPort", port["port"])
                if target not in names and target not in numbers:
                    found.append(f"{_name(svc)}: targets port {target!r}, which its pods do not declare")
    return found


def _declared_ports(workload: Manifest) -> set[int]:
    return {p["containerPort"] for _, c in containers(workload, init=False) for p in c.get("ports") or []}


def _runs_switchboard(workload: Manifest) -> bool:
    return any((c.get("args") or [""])[0] == "serve" for _, c in containers(workload, init=False))


def pods_are_annotated_for_scraping(objs: list[Manifest]) -> list[str]:
    """Every pod running a Switchboard service (`serve <service>`) is annotated
    `prometheus.io/scrape`; every annotated pod names an absolute path and a port one of
    its containers declares."""
    found = []
    for w in workloads(objs):
        annotations = w["spec"]["template"]["metadata"].get("annotations") or {}
        if annotations.get(_SCRAPE) != "true":
            if _runs_switchboard(w):
                found.append(f"{_name(w)}: its pods are not annotated {_SCRAPE}")
            continue
        path = annotations.get("prometheus.io/path", "")
        if not path.startswith("/"):
            found.append(f"{_name(w)}: prometheus.io/path {path!r} is not an absolute path")
        port = annotations.get("prometheus.io/port", "")
        if not port.isdigit() or int(port) not in _declared_ports(w):
            found.append(f"{_name(w)}: prometheus.io/port {port!r} is not a port its containers declare")
    return found


def adapter_rules(objs: Iterable[Manifest]) -> dict[str, Manifest]:
    """The custom metrics the rendered Prometheus Adapter rules serve: name -> rule."""
    key, value = ADAPTER_LABEL
    served: dict[str, Manifest] = {}
    for config in (o for o in objs if o["kind"] == "ConfigMap"):
        if (config["metadata"].get("labels") or {}).get(key) != value:
            continue
        for rule in (yaml.safe_load(config["data"]["config.yaml"]) or {}).get("rules") or []:
            served[rule["name"]["as"]] = rule
    return served


def hpa_metrics_are_served(objs: list[Manifest]) -> list[str]:
    """Every Pods or Object metric an HPA asks for is served by a rendered Prometheus
    Adapter rule, per pod (its resources map a label to `pod`) for a Pods metric."""
    served = adapter_rules(objs)
    found = []
    for hpa in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        for metric in hpa["spec"].get("metrics") or []:
            kind = metric["type"]
            if kind not in ("Pods", "Object"):
                continue
            name = metric[kind.lower()]["metric"]["name"]
            rule = served.get(name)
            if rule is None:
                found.append(f"{_name(hpa)}: no Prometheus Adapter rule serves {name}")
                continue
            resources = {v["resource"] for v in (rule["resources"].get("overrides") or {}).values()}
            if kind == "Pods" and "pod" not in resources:
                found.append(f"{_name(hpa)}: the adapter rule for {name} is not per pod")
            if kind == "Pods" and metric["pods"]["target"]["type"] != "AverageValue":
                found.append(f"{_name(hpa)}: a Pods metric's target must be an AverageValue")
    return found


CHECKS: Mapping[str, Callable[[list[Manifest]], list[str]]] = {
    "selectors_match_template_labels": selectors_match_template_labels,
    "hpas_target_existing_workloads": hpas_target_existing_workloads,
    "requests_where_hpas_scale_on_utilization": requests_where_hpas_scale_on_utilization,
    "containers_are_production_ready": containers_are_production_ready,
    "pods_are_restricted": pods_are_restricted,
    "references_resolve": references_resolve,
    "pods_are_annotated_for_scraping": pods_are_annotated_for_scraping,
    "hpa_metrics_are_served": hpa_metrics_are_served,
}
