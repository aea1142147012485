"""deploy/: both overlays rendered by `kubectl kustomize`, every core object validated against Kubernetes'
own schemas (kubernetes-validate, strict), and what a reviewer checks by hand checked here: read-only RBAC on
what Healer reads (the CodeRun CRD's group from ../shared/reference), probes, a non-root pod, tokens from
Secrets only, the SQLite overlay's one replica on a volume. The image itself cannot be built here."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO
from tests.test_page_browser import serving
from tools.redact import find_secrets

DEPLOY = REPO / "deploy"
KUBERNETES_VERSION = "1.32.0"
CRD = REPO.parent / "shared" / "reference" / "kubernetes" / "coderun-crd.yaml"
READ_ONLY = {"get", "list", "watch"}


def rendered(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("HEALER_REQUIRE_KUBECTL") == "1":
            pytest.fail("kubectl is missing but HEALER_REQUIRE_KUBECTL=1 (apt-get install kubernetes-client)")
        pytest.skip("kubectl is missing (apt-get install kubernetes-client)")
    done = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        found.setdefault(doc["kind"], []).append(doc)
    return found


@pytest.mark.parametrize("overlay", ["sqlite", "postgres"])
def test_an_overlay_renders_to_valid_objects_that_read_only_what_healer_reads(overlay: str) -> None:
    docs = rendered(overlay)
    kinds = by_kind(docs)
    assert set(kinds) >= {
        "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
        "ServiceMonitor",
    }  # fmt: skip
    for doc in docs:
        assert doc["metadata"].get("namespace") == "cto", doc["metadata"]
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # the Prometheus Operator's CRD: checked below against the Service
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

    [role] = kinds["Role"]
    assert all(set(rule["verbs"]) <= READ_ONLY for rule in role["rules"])
    granted = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    crd = yaml.safe_load(CRD.read_text())
    assert {
        ("", "pods"),
        ("", "pods/log"),
        ("", "events"),
        (crd["spec"]["group"], crd["spec"]["names"]["plural"]),
    } <= granted
    [binding] = kinds["RoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "healer", "namespace": "cto"}]

    [deployment] = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["serviceAccountName"] == "healer" and pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "ghcr.io/5dlabs/healer:0.1.0"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    for variable in container["env"]:
        assert (
            "value" not in variable
            or not variable["name"].endswith(("TOKEN", "KEY", "URL"))
            or (variable["name"] == "HEALER_DATABASE_URL" and variable["value"].startswith("sqlite:"))
        ), variable  # credentials come from the Secret
    assert find_secrets(yaml.safe_dump_all(docs)) == []

    [service] = kinds["Service"]
    [monitor] = kinds["ServiceMonitor"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {port["name"] for port in service["spec"]["ports"]}
    [budget] = kinds["PodDisruptionBudget"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_sqlite_overlay_is_one_replica_on_a_volume_and_postgres_is_replicas_sharing_its_secret_url() -> (
    None
):
    sqlite, postgres = by_kind(rendered("sqlite")), by_kind(rendered("postgres"))
    [deployment] = sqlite["Deployment"]
    spec = deployment["spec"]
    [container] = spec["template"]["spec"]["containers"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {
        v["name"]: v.get("persistentVolumeClaim", {}).get("claimName")
        for v in spec["template"]["spec"]["volumes"]
    }
    assert (
        mounts["data"] == "/data" and claims["data"] == sqlite["PersistentVolumeClaim"][0]["metadata"]["name"]
    )
    assert {"name": "HEALER_DATABASE_URL", "value": "sqlite:////data/healer.db"} in container["env"]

    [deployment] = postgres["Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    [url] = [v for v in container["env"] if v["name"] == "HEALER_DATABASE_URL"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": "healer-secrets", "key": "database-url"}
    # replicas share the sessions on Postgres (runtime/queue.py), each named by its pod in the queue
    [name] = [v for v in container["env"] if v["name"] == "HEALER_REPLICA_NAME"]
    assert (
        deployment["spec"]["replicas"] >= 2 and name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    )
    budget = postgres["PodDisruptionBudget"][0]["spec"]
    assert budget.get("maxUnavailable", 0) < deployment["spec"]["replicas"]


def test_the_dockerfile_runs_as_the_deployments_user_and_installs_as_setup_does() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    [deployment] = by_kind(rendered("sqlite"))["Deployment"]
    user = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert f"USER {user}:{user}" in dockerfile and dockerfile.splitlines()[2].startswith(
        "FROM python:3.11.7-slim"
    )
    assert (
        "pip install -qq -e ." in dockerfile
        and "pip install -qq --disable-pip-version-check -e '.[dev]'"
        in (REPO / "scripts" / "setup.sh").read_text()
    )


def test_ready_answers_when_the_database_does(tmp_path: Path) -> None:
    with serving(tmp_path) as (base, _database), urllib.request.urlopen(f"{base}/ready", timeout=5) as answer:
        assert answer.status == 200 and b'"ready"' in answer.read()
