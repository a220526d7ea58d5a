"""The Kubernetes and KubeRay manifests in infra/ validate offline: built-in kinds against the Kubernetes
schemas shipped by kubernetes-validate (strict: an unknown field fails), RayCluster and RayJob against
the checked-in KubeRay v1.4.2 schema whose pod templates are the Kubernetes ones, the ServiceMonitor
against a checked-in subset of the Prometheus Operator's. Then what makes them
start as written: the pinned image, the autoscaler, KubeRay's command convention, scratch volumes,
shard sizing, settings that exist, commands the CLI parses, and the network policy."""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer
import yaml
from referencing import Registry, Resource

from cli.main import app
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KUBERAY = ROOT / "infra" / "kuberay"
SCHEMA = KUBERAY / "schema" / "kuberay-v1.4.2-ray.io_v1.json"
# the Prometheus Operator's ServiceMonitor (infra/kubernetes/api.yaml): no registry ships its CRD either
MONITOR_SCHEMA = ROOT / "infra" / "kubernetes" / "schema" / "prometheus-operator-v0.86-servicemonitor.json"
K8S_VERSION = "1.33.0"  # the oldest Kubernetes the manifests are written for
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"registry.example.internal/evidence:{PROJECT_VERSION}"


def _docs(folder: Path) -> list[dict[str, Any]]:
    return [d for p in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


DOCS = _docs(KUBERAY) + _docs(ROOT / "infra" / "kubernetes")


def _kuberay_validator(kind: str) -> jsonschema.Draft202012Validator:
    k8s = (
        Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    )
    definitions = json.loads((k8s / "_definitions.json").read_text())
    schema = json.loads(SCHEMA.read_text())
    registry = Registry().with_resources(
        [
            (definitions["$id"], Resource.from_contents(definitions)),
            (schema["$id"], Resource.from_contents(schema)),
        ]
    )
    return jsonschema.Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{kind}"}, registry=registry)


def validate(doc: dict[str, Any]) -> None:
    """Raise when the document does not validate (``jsonschema.ValidationError`` or kubernetes-validate's)."""
    if doc["apiVersion"] == "ray.io/v1":
        _kuberay_validator(doc["kind"]).validate(doc)
    elif doc["apiVersion"] == "monitoring.coreos.com/v1":
        schema = json.loads(MONITOR_SCHEMA.read_text())
        jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{doc['kind']}"}).validate(doc)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _of(kind: str, name: str | None = None) -> dict[str, Any]:
    return next(d for d in DOCS if d["kind"] == kind and (name is None or d["metadata"]["name"] == name))


def _cluster_specs() -> list[dict[str, Any]]:
    return [_of("RayCluster")["spec"], _of("RayJob")["spec"]["rayClusterSpec"]]


def _pod_specs() -> list[dict[str, Any]]:
    pods = []
    for spec in _cluster_specs():
        pods += [spec["headGroupSpec"]["template"]["spec"]]
        pods += [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    return pods


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_validates(doc):
    validate(doc)


def test_the_schema_names_its_kuberay_version():
    schema = json.loads(SCHEMA.read_text())
    assert schema["x-kuberay-version"] == "v1.4.2" and "v1.4.2" in schema["$id"]


@pytest.mark.parametrize(
    "kind, path, wrong",
    [
        ("RayCluster", ["spec"], "enableInTreeAutoScaling"),
        ("RayCluster", ["spec", "workerGroupSpecs", 0], "maxReplica"),
        ("RayCluster", ["spec", "headGroupSpec", "template", "spec", "containers", 0], "readinesProbe"),
        ("RayJob", ["spec"], "shutdownAfterJobFinish"),
        (
            "RayJob",
            ["spec", "rayClusterSpec", "workerGroupSpecs", 0, "template", "spec", "volumes", 0],
            "emptydir",
        ),
        ("NetworkPolicy", ["spec"], "podSelectors"),
        ("CronJob", ["spec"], "schedules"),
        ("ServiceMonitor", ["spec", "endpoints", 0], "paths"),
        ("ServiceMonitor", ["spec", "endpoints", 0, "authorization"], "credential"),
    ],
)
def test_a_misspelt_field_fails(kind, path, wrong):
    doc = copy.deepcopy(_of(kind))
    node = doc
    for step in path:
        node = node[step]
    node[wrong] = node.get(wrong[:-1], True) if wrong.endswith("s") else True
    with pytest.raises(Exception, match=r"(?i)additional properties|unevaluated|not allowed|was unexpected"):
        validate(doc)


def test_a_start_param_must_be_a_string():
    doc = copy.deepcopy(_of("RayCluster"))
    doc["spec"]["workerGroupSpecs"][0]["rayStartParams"]["num-cpus"] = 8
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_images_are_the_pinned_tag_and_ray_matches_the_image():
    images = re.findall(r"image:\s*(\S+)", "\n".join(yaml.safe_dump(d) for d in DOCS))
    assert images and set(images) == {IMAGE}
    pinned_ray = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert {spec["rayVersion"] for spec in _cluster_specs()} == {pinned_ray}
    assert "wget" in (ROOT / "infra" / "Dockerfile").read_text()  # KubeRay's injected probes use it


def test_autoscaling_commands_and_scratch():
    for doc in (_of("RayCluster"), _of("RayJob")):
        assert doc["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    for spec in _cluster_specs():
        assert spec["enableInTreeAutoscaling"] is True
        assert (
            spec["headGroupSpec"]["serviceType"] == "ClusterIP"
            and spec["headGroupSpec"]["enableIngress"] is False
        )
        assert any(g["maxReplicas"] > g["minReplicas"] for g in spec["workerGroupSpecs"])
    for pod in _pod_specs():
        (container,) = pod["containers"]
        script = " ".join(container["args"])
        assert container["command"] == ["/bin/bash", "-lc", "--"]
        assert "$KUBERAY_GEN_RAY_START_CMD" in script and "ulimit -n 65536" in script
        assert not re.search(
            r"sleep \d+\s*;", script.replace("do sleep 1; done", "")
        )  # readiness, not sleeps
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert mounts["scratch"] == "/var/lib/evidence" and "emptyDir" in volumes["scratch"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["EVIDENCE_HOME"] == "/var/lib/evidence"
    assert not [d for d in DOCS if d["kind"] in ("Ingress",) or (d["kind"] == "Service" and "ray" in str(d))]


def test_environment_names_are_settings_and_shards_fit_the_index_group():
    fields = {f.upper() for f in Settings.model_fields} | {
        (f.validation_alias.choices[0] if f.validation_alias else "") for f in Settings.model_fields.values()
    }
    for spec in _cluster_specs():
        head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in head["env"]}
        for name in env:
            assert name.removeprefix("EVIDENCE_") in fields or name in fields, name
        settings = Settings(
            **{k.removeprefix("EVIDENCE_").lower(): v for k, v in env.items() if k.startswith("EVIDENCE_")}
        )
        (index,) = [g for g in spec["workerGroupSpecs"] if g["groupName"] == "index"]
        per_pod = json.loads(json.loads(index["rayStartParams"]["resources"]))[settings.dedup_shard_resource]
        assert per_pod * index["replicas"] == settings.dedup_shards == 64
        assert index["minReplicas"] == index["maxReplicas"] == index["replicas"]  # shards never scaled away
        assert per_pod * settings.dedup_shard_memory_bytes <= int(index["rayStartParams"]["memory"])
        assert index["rayStartParams"]["num-cpus"] == "0" and settings.dedup_shard_cpus == 0
        (decode,) = [g for g in spec["workerGroupSpecs"] if g["groupName"] == "decode"]
        cpus = int(decode["rayStartParams"]["num-cpus"])
        assert settings.max_in_flight == decode["maxReplicas"] * cpus // settings.task_cpus


def _parses(argv: list[str]) -> None:
    command = typer.main.get_command(app)
    ctx = command.make_context("evidence", list(argv[1:]), resilient_parsing=False)
    sub = command.get_command(ctx, argv[1])
    sub.make_context(argv[1], argv[2:], parent=ctx)
    if argv[1] == "index":
        sub.get_command(ctx, argv[2]).make_context(argv[2], argv[3:], parent=ctx)


def test_the_commands_the_manifests_run_parse():
    entrypoint = _of("RayJob")["spec"]["entrypoint"]
    for part in entrypoint.split("&&"):
        _parses(shlex.split(part))
    cron = _of("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    _parses(cron[cron.index("--") + 1 :])
    _parses(["evidence", "worker"])


def test_the_job_api_admits_only_job_submitters():
    submitters = [
        _of("RayJob")["spec"]["submitterPodTemplate"]["metadata"]["labels"],
        _of("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"],
    ]
    assert all(labels.get("evidence.io/job-submitter") == "true" for labels in submitters)
    policies = [d for d in DOCS if d["kind"] == "NetworkPolicy"]
    for spec in _cluster_specs():
        labels = spec["headGroupSpec"]["template"]["metadata"]["labels"]
        (policy,) = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        assert all(g["template"]["metadata"]["labels"] == labels for g in spec["workerGroupSpecs"])
        same_cluster, job_api = policy["spec"]["ingress"]
        assert same_cluster == {"from": [{"podSelector": policy["spec"]["podSelector"]}]}
        assert job_api["ports"] == [{"protocol": "TCP", "port": 8265}]
        selectors = [peer["podSelector"]["matchLabels"] for peer in job_api["from"]]
        assert selectors == [
            {"evidence.io/job-submitter": "true"},
            {"app.kubernetes.io/name": "kuberay-operator"},
        ]
