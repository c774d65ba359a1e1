"""Validate rendered Kubernetes manifests: schemas first, then the rules this deployment relies on.

Schemas: Kubernetes' own kinds with kubernetes-validate (strict: unknown fields fail) for each
Kubernetes version asked for; the operators' custom kinds with the JSON Schemas in
deploy/checks/crd-schemas. A kind with no schema anywhere fails.

Rules (what a schema cannot see): every container runs non-root with a read-only root file
system, no privilege escalation, all capabilities dropped, requests and limits; every service
role has readiness on /health/serving (a worker's on /health/ready) and liveness on /health/live
(a worker's on /health/consumers); Services, the Ingress, HPAs,
ScaledObjects and PodDisruptionBudgets point at things that exist; every Secret and ConfigMap a
pod reads exists or is made by an operator or an ExternalSecret; the Ingress sends each route of
interfaces.md to the service that owns it (evaluated as ingress-nginx orders regex paths); a
PodMonitor that scrapes the services gives each target the `service` and `role` labels the alerts
select `up` by (its relabelings evaluated on the pods' labels); the prod render holds no Secret
values.

    python validate_k8s.py --kubernetes-version 1.30 --kubernetes-version 1.33 dev.yaml prod.yaml
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
import referencing.jsonschema
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, all_versions, major_minor
from packaging.version import Version

CRD_SCHEMA_DIR = Path(__file__).with_name("crd-schemas")
K8S_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"

SERVICES = {"catalog": 8001, "assignment": 8002, "journal": 8003}
ROLES = ("api", "worker")
# The workers that consume busy queues (and so scale on queue length); catalog's worker consumes
# only rare snapshot requests and mostly relays its outbox.
CONSUMING_WORKERS = {"assignment-worker", "journal-worker"}

# interfaces.md §1/§3: which service answers each route.
EXPECTED_ROUTES = [
    ("/api/v1/hr/kpi-modules", "catalog-api"),
    ("/api/v1/hr/kpi-modules/0b6f3b1e-1c1a-4b8e-9a63-0d5f8a0c2e11", "catalog-api"),
    ("/api/v1/hr/templates/tpl-1/kpis", "catalog-api"),
    ("/api/v1/hr/staff/0b6f3b1e-1c1a-4b8e-9a63-0d5f8a0c2e11/kpis", "assignment-api"),
    ("/api/v1/hr/staff/s1/kpis/k1/status", "assignment-api"),
    ("/api/v1/hr/staff/s1/deactivate-kpis", "assignment-api"),
    ("/api/v1/hr/evaluations/due", "assignment-api"),
    ("/api/v1/hr/staff/s1/journal", "journal-api"),
    ("/api/v1/hr/staff/s1/kpis/k1/journal", "journal-api"),
    ("/api/v1/hr/journal/e1/approval", "journal-api"),
    ("/api/v1/hr/staff/s1/journalling", "assignment-api"),  # as the gateway: not a journal route
    ("/dev/token", "catalog-api"),
    ("/api/v1/dev/token", "gateway"),  # not an API route: the gateway's problem+json 404
    ("/schema/journal/openapi.json", "gateway"),
    ("/contract-sim/health/live", "gateway"),
    ("/", "gateway"),
    ("/page_hr_kpis.html", "gateway"),
    ("/page_staff_detail.html", "gateway"),
]

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
IMAGE_REFERENCE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]{1,2}[a-z0-9]+|-+[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)


# --- loading ---------------------------------------------------------------------------------


def load(path: Path) -> list[dict[str, Any]]:
    """Read every non-empty YAML document of a rendered file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def ident(obj: dict[str, Any]) -> str:
    """`Kind/name` of an object, for messages."""
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    for doc in by_kind(docs, kind):
        if doc["metadata"]["name"] == name:
            return doc
    return None


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a workload (metadata + spec), or None."""
    kind = obj.get("kind")
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    if kind in WORKLOAD_KINDS:
        return obj["spec"]["template"]
    return None


def containers(pod_spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers"):
        for container in pod_spec.get(field, []) or []:
            yield field, container


# --- schemas ---------------------------------------------------------------------------------


def _k8s_schema_version(wanted: str) -> str:
    candidates = [
        v for v in all_versions() if Version(major_minor(v)) <= Version(major_minor(wanted))
    ]
    if not candidates:
        raise SystemExit(f"kubernetes-validate has no schemas for Kubernetes {wanted}")
    return candidates[-1]


def crd_validators(
    kubernetes_version: str,
) -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """Validators for the custom kinds, keyed by (apiVersion, kind)."""
    version = _k8s_schema_version(kubernetes_version)
    definitions_file = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{version}-local-strict"
        / "_definitions.json"
    )
    definitions = referencing.Resource.from_contents(json.loads(definitions_file.read_text()))

    def retrieve(uri: str) -> referencing.Resource:
        if uri.startswith("k8s://"):
            name = uri.removeprefix("k8s://")
            return referencing.jsonschema.DRAFT202012.create_resource(
                {"$ref": f"{K8S_DEFINITIONS_URI}#/$defs/{name}"}
            )
        raise referencing.exceptions.NoSuchResource(ref=uri)

    registry: referencing.Registry = referencing.Registry(retrieve=retrieve).with_resource(
        K8S_DEFINITIONS_URI, definitions
    )
    validators = {}
    for path in sorted(CRD_SCHEMA_DIR.glob("*.yaml")):
        schema = yaml.safe_load(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        key = (schema["properties"]["apiVersion"]["const"], schema["properties"]["kind"]["const"])
        validators[key] = jsonschema.Draft202012Validator(schema, registry=registry)
    return validators


def schema_errors(docs: list[dict[str, Any]], kubernetes_versions: list[str]) -> list[str]:
    errors = []
    for kubernetes_version in kubernetes_versions:
        custom = crd_validators(kubernetes_version)
        for doc in docs:
            key = (doc.get("apiVersion", ""), doc.get("kind", ""))
            where = f"{ident(doc)} (Kubernetes {kubernetes_version})"
            if key in custom:
                for error in sorted(custom[key].iter_errors(doc), key=lambda e: list(e.path)):
                    path = ".".join(str(p) for p in error.path)
                    errors.append(f"{where}: {path}: {error.message}")
                continue
            try:
                kubernetes_validate.validate(doc, kubernetes_version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path)
                errors.append(f"{where}: {path}: {error.message}")
            except SchemaNotFoundError:
                errors.append(
                    f"{where}: no schema for {key[0]} {key[1]} (add one to {CRD_SCHEMA_DIR})"
                )
    return errors


# --- rules -----------------------------------------------------------------------------------


def rule_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Every rule's findings for one render."""
    errors: list[str] = []
    for rule in (
        _namespace_rule,
        _container_rule,
        _service_role_rule,
        _service_rule,
        _ingress_rule,
        _autoscaling_rule,
        _pdb_rule,
        _reference_rule,
        _environment_rule,
        _pod_monitor_rule,
    ):
        errors.extend(rule(docs))
    return errors


def _namespace_rule(docs: list[dict[str, Any]]) -> list[str]:
    namespaces = {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"}
    if len(namespaces) != 1 or None in namespaces:
        return [f"objects are spread over namespaces {sorted(map(str, namespaces))}: expected one"]
    namespace = namespaces.pop()
    if not any(ns["metadata"]["name"] == namespace for ns in by_kind(docs, "Namespace")):
        return [f"no Namespace object named {namespace}"]
    return []


def _container_rule(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for doc in docs:
        template = pod_template(doc)
        if template is None:
            continue
        spec = template["spec"]
        pod_security = spec.get("securityContext", {}) or {}
        if spec.get("automountServiceAccountToken") is not False:
            errors.append(f"{ident(doc)}: automountServiceAccountToken must be false")
        for field, container in containers(spec):
            where = f"{ident(doc)} {field}/{container['name']}"
            security = container.get("securityContext", {}) or {}
            if security.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{where}: allowPrivilegeEscalation must be false")
            if security.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{where}: readOnlyRootFilesystem must be true")
            if "ALL" not in (security.get("capabilities", {}) or {}).get("drop", []):
                errors.append(f"{where}: capabilities.drop must include ALL")
            if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is not True:
                errors.append(f"{where}: runAsNonRoot must be true")
            seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {})) or {}
            if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
                errors.append(f"{where}: seccompProfile must be RuntimeDefault")
            resources = container.get("resources", {}) or {}
            for part, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
                for key in keys:
                    if key not in (resources.get(part) or {}):
                        errors.append(f"{where}: resources.{part}.{key} missing")
            image = container.get("image", "")
            if not IMAGE_REFERENCE.match(image):
                errors.append(f"{where}: image {image!r} is not a valid lower-case reference")
            elif ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
                errors.append(f"{where}: image {image!r} has no tag or digest")
            elif image.endswith(":latest"):
                errors.append(f"{where}: image {image!r} uses :latest")
            if field == "containers" and doc["kind"] == "Deployment":
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in container:
                        errors.append(f"{where}: no {probe}")
    return errors


def _service_role_rule(docs: list[dict[str, Any]]) -> list[str]:
    """Each service runs as an api and a worker Deployment with the probes of interfaces.md."""
    errors = []
    for service, port in SERVICES.items():
        for role in ROLES:
            name = f"{service}-{role}"
            deployment = named(docs, "Deployment", name)
            if deployment is None:
                errors.append(f"no Deployment {name}")
                continue
            main = deployment["spec"]["template"]["spec"]["containers"][0]
            if main.get("args", [])[:2] != [service, role]:
                errors.append(
                    f"Deployment/{name}: args {main.get('args')} should start {[service, role]}"
                )
            ports = {p.get("name"): p["containerPort"] for p in main.get("ports", [])}
            if ports.get("http") != port:
                errors.append(f"Deployment/{name}: container port http should be {port}")
            # A worker is behind no Service: only its liveness can act on lost consumers.
            liveness = "/health/consumers" if role == "worker" else "/health/live"
            # An API serves with the broker away (its writes wait in the outbox).
            readiness = "/health/ready" if role == "worker" else "/health/serving"
            for probe, path in (("readinessProbe", readiness), ("livenessProbe", liveness)):
                http_get = (main.get(probe) or {}).get("httpGet") or {}
                if http_get.get("path") != path or http_get.get("port") not in ("http", port):
                    errors.append(f"Deployment/{name}: {probe} should be GET {path} on port http")
    return errors


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _workloads_selected(
    docs: list[dict[str, Any]], selector: dict[str, str]
) -> list[dict[str, Any]]:
    found = []
    for doc in docs:
        template = pod_template(doc)
        if template and _selects(selector, template["metadata"].get("labels", {}) or {}):
            found.append(doc)
    return found


def _service_rule(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for service in by_kind(docs, "Service"):
        selector = service["spec"].get("selector") or {}
        workloads = _workloads_selected(docs, selector)
        if not workloads:
            errors.append(f"{ident(service)}: selector {selector} matches no pod template")
            continue
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for workload in workloads:
                declared = [
                    p
                    for _, c in containers(pod_template(workload)["spec"])
                    for p in c.get("ports", []) or []
                ]
                if not any(target in (p.get("name"), p["containerPort"]) for p in declared):
                    errors.append(
                        f"{ident(service)}: targetPort {target} not declared by {ident(workload)}"
                    )
    return errors


def _pod_monitor_selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and the In/NotIn/Exists/DoesNotExist expressions)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        found = {
            "In": key in labels and labels[key] in (values or []),
            "NotIn": labels.get(key) not in (values or []),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not found:
            return False
    return bool(selector)


def target_labels(relabelings: list[dict[str, Any]], pod_labels: dict[str, str]) -> dict[str, str]:
    """The labels `replace` relabelings give a PodMonitor target, from the pod's labels."""
    labels = {
        "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v
        for k, v in pod_labels.items()
    }
    for step in relabelings:
        if step.get("action", "replace").lower() != "replace" or "targetLabel" not in step:
            continue
        source = step.get("separator", ";").join(
            labels.get(name, "") for name in step.get("sourceLabels", [])
        )
        match = re.fullmatch(step.get("regex", "(.*)"), source)
        if match:
            replacement = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", step.get("replacement", "$1"))
            labels[step["targetLabel"]] = match.expand(replacement)
    return labels


def _pod_labels(workload: dict[str, Any] | None) -> dict[str, str]:
    template = pod_template(workload) if workload else None
    return (template or {}).get("metadata", {}).get("labels") or {}


def _pod_monitor_rule(docs: list[dict[str, Any]]) -> list[str]:
    """The alerts KpiApiDown/KpiWorkerDown select `up{service, role}`: every scraped service pod
    must get those two labels, right, from its PodMonitor."""
    errors = []
    for monitor in by_kind(docs, "PodMonitor"):
        for service in SERVICES:
            for role in ROLES:
                pod_labels = _pod_labels(named(docs, "Deployment", f"{service}-{role}"))
                if not _pod_monitor_selects(monitor["spec"].get("selector") or {}, pod_labels):
                    continue
                for endpoint in monitor["spec"].get("podMetricsEndpoints", []):
                    got = target_labels(endpoint.get("relabelings") or [], pod_labels)
                    if (got.get("service"), got.get("role")) != (service, role):
                        errors.append(
                            f"{ident(monitor)}: pods of {service}-{role} are scraped with "
                            f"service={got.get('service')!r} role={got.get('role')!r}"
                        )
    return errors


def _service_port(service: dict[str, Any], port: dict[str, Any]) -> bool:
    for declared in service["spec"].get("ports", []):
        if port.get("name") == declared.get("name") or port.get("number") == declared["port"]:
            return True
    return False


def route(ingress: dict[str, Any], url_path: str) -> str | None:
    """The Service ingress-nginx sends `url_path` to (regex paths: longest first, first match)."""
    annotations = ingress["metadata"].get("annotations", {}) or {}
    use_regex = annotations.get("nginx.ingress.kubernetes.io/use-regex") == "true"
    paths = [p for rule in ingress["spec"].get("rules", []) for p in rule["http"]["paths"]]
    if use_regex:
        for path in sorted(paths, key=lambda p: len(p["path"]), reverse=True):
            if re.match(path["path"], url_path, flags=re.IGNORECASE):
                return path["backend"]["service"]["name"]
        return None
    best: tuple[int, str] | None = None
    for path in paths:
        prefix = path["path"].rstrip("/")
        exact = path.get("pathType") == "Exact"
        matched = (
            url_path == path["path"]
            if exact
            else (url_path == prefix or url_path.startswith(prefix + "/") or prefix == "")
        )
        if matched and (best is None or len(prefix) > best[0]):
            best = (len(prefix), path["backend"]["service"]["name"])
    return best[1] if best else None


def _ingress_rule(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    ingresses = by_kind(docs, "Ingress")
    if not ingresses:
        return ["no Ingress"]
    for ingress in ingresses:
        for rule in ingress["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = named(docs, "Service", backend["name"])
                if service is None:
                    errors.append(
                        f"{ident(ingress)}: path {path['path']} -> "
                        f"missing Service {backend['name']}"
                    )
                elif not _service_port(service, backend["port"]):
                    errors.append(
                        f"{ident(ingress)}: path {path['path']} -> "
                        f"{backend['name']} has no port {backend['port']}"
                    )
        for url_path, expected in EXPECTED_ROUTES:
            actual = route(ingress, url_path)
            if actual != expected:
                errors.append(
                    f"{ident(ingress)}: {url_path} goes to {actual}, interfaces.md says {expected}"
                )
    return errors


def _autoscaling_rule(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    hpa_targets = {}
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if named(docs, ref["kind"], ref["name"]) is None:
            errors.append(
                f"{ident(hpa)}: scaleTargetRef {ref['kind']}/{ref['name']} does not exist"
            )
        hpa_targets[ref["name"]] = hpa
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            errors.append(f"{ident(hpa)}: minReplicas > maxReplicas")
    keda_targets = {}
    namespace = next(
        (d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"), None
    )
    for scaled in by_kind(docs, "ScaledObject"):
        spec = scaled["spec"]
        ref = spec["scaleTargetRef"]
        if named(docs, ref.get("kind", "Deployment"), ref["name"]) is None:
            errors.append(f"{ident(scaled)}: scaleTargetRef {ref['name']} does not exist")
        keda_targets[ref["name"]] = scaled
        if spec.get("minReplicaCount", 0) < 1:
            errors.append(
                f"{ident(scaled)}: minReplicaCount must be >= 1 (the worker also relays the outbox)"
            )
        for trigger in spec["triggers"]:
            auth = (trigger.get("authenticationRef") or {}).get("name")
            if auth and named(docs, "TriggerAuthentication", auth) is None:
                errors.append(f"{ident(scaled)}: authenticationRef {auth} does not exist")
            host = trigger["metadata"].get("host", "")
            match = re.match(r"^amqps?://([^/:@]+@)?([^/:]+)", host)
            if trigger["type"] == "rabbitmq" and match:
                parts = match.group(2).split(".")
                if len(parts) < 3 or parts[1] != namespace or parts[2] != "svc":
                    errors.append(
                        f"{ident(scaled)}: broker host {match.group(2)} "
                        f"must be <service>.{namespace}.svc"
                        " (KEDA resolves it from its own namespace)"
                    )
                elif (
                    named(docs, "RabbitmqCluster", parts[0]) is None
                    and named(docs, "Service", parts[0]) is None
                ):
                    errors.append(
                        f"{ident(scaled)}: broker {parts[0]} is neither "
                        "a RabbitmqCluster nor a Service"
                    )
    for name in set(hpa_targets) & set(keda_targets):
        errors.append(f"Deployment/{name}: scaled by both an HPA and a ScaledObject")
    for deployment in by_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        component = deployment["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component == "api" and name not in hpa_targets:
            errors.append(
                f"{ident(deployment)}: an api Deployment without a HorizontalPodAutoscaler"
            )
        if name in CONSUMING_WORKERS and name not in keda_targets:
            errors.append(f"{ident(deployment)}: a consuming worker without a KEDA ScaledObject")
        if (name in hpa_targets or name in keda_targets) and "replicas" in deployment["spec"]:
            errors.append(f"{ident(deployment)}: sets spec.replicas although an autoscaler owns it")
    return errors


def _pdb_rule(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    covered: set[str] = set()
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        selected = _workloads_selected(docs, pdb["spec"]["selector"].get("matchLabels", {}))
        if not selected:
            errors.append(f"{ident(pdb)}: selects no workload")
        covered.update(w["metadata"]["name"] for w in selected if w["kind"] == "Deployment")
    for deployment in by_kind(docs, "Deployment"):
        if deployment["metadata"]["name"] not in covered:
            errors.append(f"{ident(deployment)}: no PodDisruptionBudget")
    return errors


def _provided_secrets(docs: list[dict[str, Any]]) -> set[str]:
    """Secrets that exist once the render is applied: its own, and the ones operators make."""
    names = {s["metadata"]["name"] for s in by_kind(docs, "Secret")}
    for external in by_kind(docs, "ExternalSecret"):
        names.add(
            (external["spec"].get("target") or {}).get("name") or external["metadata"]["name"]
        )
    for cluster in by_kind(docs, "Cluster"):
        if cluster["apiVersion"].startswith("postgresql.cnpg.io/"):
            names.update(
                f"{cluster['metadata']['name']}-{suffix}"
                for suffix in ("app", "ca", "replication", "server")
            )
    for rabbit in by_kind(docs, "RabbitmqCluster"):
        names.update(
            f"{rabbit['metadata']['name']}-{suffix}" for suffix in ("default-user", "erlang-cookie")
        )
    return names


def _reference_rule(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    secrets = _provided_secrets(docs)
    config_maps = {
        c["metadata"]["name"]: c.get("data", {}) or {} for c in by_kind(docs, "ConfigMap")
    }
    claims = {c["metadata"]["name"] for c in by_kind(docs, "PersistentVolumeClaim")}
    for doc in docs:
        template = pod_template(doc)
        if template is not None:
            spec = template["spec"]
            for volume in spec.get("volumes", []) or []:
                claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if claim and claim not in claims:
                    errors.append(
                        f"{ident(doc)}: volume {volume['name']} claims missing PVC {claim}"
                    )
            for field, container in containers(spec):
                where = f"{ident(doc)} {field}/{container['name']}"
                defined: set[str] = set()
                for source in container.get("envFrom", []) or []:
                    if "configMapRef" in source:
                        name = source["configMapRef"]["name"]
                        if name not in config_maps:
                            errors.append(f"{where}: envFrom ConfigMap {name} does not exist")
                        defined.update(config_maps.get(name, {}))
                    if "secretRef" in source and source["secretRef"]["name"] not in secrets:
                        errors.append(
                            f"{where}: envFrom Secret {source['secretRef']['name']} does not exist"
                        )
                for env in container.get("env", []) or []:
                    for var in re.findall(
                        r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", env.get("value", "") or ""
                    ):
                        if var not in defined:
                            errors.append(
                                f"{where}: env {env['name']} refers to $({var}) "
                                "before it is defined"
                            )
                    source = env.get("valueFrom") or {}
                    if "secretKeyRef" in source and source["secretKeyRef"]["name"] not in secrets:
                        errors.append(
                            f"{where}: env {env['name']} reads missing Secret "
                            f"{source['secretKeyRef']['name']}"
                        )
                    if "configMapKeyRef" in source:
                        ref = source["configMapKeyRef"]
                        if ref["key"] not in config_maps.get(ref["name"], {}):
                            errors.append(
                                f"{where}: env {env['name']} reads missing ConfigMap key "
                                f"{ref['name']}/{ref['key']}"
                            )
                    defined.add(env["name"])
        if doc["kind"] == "TriggerAuthentication":
            for ref in doc["spec"].get("secretTargetRef", []):
                if ref["name"] not in secrets:
                    errors.append(f"{ident(doc)}: reads missing Secret {ref['name']}")
        if doc["kind"] == "ObjectStore":
            for ref in (doc["spec"]["configuration"].get("s3Credentials") or {}).values():
                if isinstance(ref, dict) and ref.get("name") not in secrets:
                    errors.append(f"{ident(doc)}: reads missing Secret {ref.get('name')}")
        if doc["kind"] == "Cluster" and doc["apiVersion"].startswith("postgresql.cnpg.io/"):
            for plugin in doc["spec"].get("plugins", []) or []:
                store = (plugin.get("parameters") or {}).get("barmanObjectName")
                if store and named(docs, "ObjectStore", store) is None:
                    errors.append(
                        f"{ident(doc)}: plugin {plugin['name']} names missing ObjectStore {store}"
                    )
        if (
            doc["kind"] == "ScheduledBackup"
            and named(docs, "Cluster", doc["spec"]["cluster"]["name"]) is None
        ):
            errors.append(f"{ident(doc)}: cluster {doc['spec']['cluster']['name']} does not exist")
    return errors


def _environment_rule(docs: list[dict[str, Any]]) -> list[str]:
    config = named(docs, "ConfigMap", "kpi-config")
    if config is None:
        return ["no ConfigMap kpi-config"]
    environment = config.get("data", {}).get("KPI_ENV")
    if environment not in ("dev", "prod"):
        return [f"ConfigMap/kpi-config: KPI_ENV is {environment!r}, expected dev or prod"]
    errors = []
    if environment == "prod":
        for secret in by_kind(docs, "Secret"):
            if secret.get("data") or secret.get("stringData"):
                errors.append(
                    f"{ident(secret)}: a prod render must not carry secret values "
                    "(use an ExternalSecret)"
                )
    return errors


def placeholders(docs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The `replace-me` values an operator still has to fill in, with where each is used."""
    found: dict[str, list[str]] = {}

    def walk(node: Any, path: str, owner: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key, owner)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]", owner)
        elif isinstance(node, str) and "replace-me" in node.lower():
            found.setdefault(node, []).append(f"{owner} {path}")

    for doc in docs:
        walk(doc, "", ident(doc))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument(
        "--kubernetes-version",
        action="append",
        dest="versions",
        help="validate against this Kubernetes version (repeatable; default 1.30 and 1.33)",
    )
    args = parser.parse_args(argv)
    versions = args.versions or ["1.30", "1.33"]
    failed = False
    for path in args.files:
        docs = load(path)
        errors = schema_errors(docs, versions) + rule_errors(docs)
        for error in errors:
            print(f"ERROR {path}: {error}")
        for value, uses in placeholders(docs).items():
            more = f" and {len(uses) - 1} more" if len(uses) > 1 else ""
            print(f"TODO  {path}: fill in {value!r} ({uses[0]}{more})")
        kinds = len({(d["apiVersion"], d["kind"]) for d in docs})
        status = "FAILED" if errors else "ok"
        print(
            f"{status:6} {path}: {len(docs)} objects of {kinds} kinds, schemas for Kubernetes "
            f"{', '.join(versions)}, {len(errors)} errors"
        )
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
