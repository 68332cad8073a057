"""k8s_manifests: the worker Job, validated OFFLINE against the real Kubernetes OpenAPI schemas
(kubernetes-validate, strict) of every supported minor version. No cluster is involved: this
proves the manifests are well-formed for each version, not how a cluster schedules them."""
from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.k8s import manifests as km

VERSIONS = ["1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.37"]


def params(**over):
    p = dict(run_id="ckpt-2026-11", namespace="datamover", server_version="v1.31.2",
             image="fra.ocir.io/tenancy/datamover-worker:0.2.0", image_pull_policy="IfNotPresent",
             image_pull_secrets=[], pods=4, slots=3, retries=3, backoff=5.0, lease_seconds=120.0,
             run_wait=60.0, tool="rclone", source="/lst/ml-checkpoints",
             destination="oci:ckpt-bucket/prefix", shared_dir="/lst/datamover", source_pvc="lustre",
             source_subpath="ml-checkpoints", shared_pvc="lustre", shared_subpath="datamover",
             destination_pvc=None, destination_subpath="", secret_mount="/etc/datamover/rclone",
             resources={}, node_selector={}, tolerations=[], service_account="",
             ttl_seconds_after_finished=86400, active_deadline_seconds=604800,
             backoff_limit_per_index=2, run_as_user=10001, run_as_group=None, labels={})
    p.update(over)
    return p


FULL = dict(
    resources={"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "6Gi"}},
    node_selector={"node.kubernetes.io/instance-type": "VM.Standard.E5.Flex"},
    tolerations=[{"key": "dedicated", "operator": "Equal", "value": "datamover",
                  "effect": "NoSchedule"}],
    service_account="datamover-worker", image_pull_secrets=["ocir-pull"],
    labels={"team": "ml-platform"})

CASES = {
    "rclone-minimal": {},
    "rclone-everything": FULL,
    "rsync-root-own-pvc": dict(tool="rsync", destination="/mnt/archive/ckpt",
                               destination_pvc="archive", destination_subpath="ckpt",
                               run_as_user=0, source_subpath="", shared_pvc="scratch"),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_job_is_valid_for_each_supported_version(version, case):
    job = km.job(params(server_version="v%s.0" % version, **CASES[case]))
    # strict: unknown fields are errors, as kubectl --validate=strict would say
    kubernetes_validate.validate(json.loads(json.dumps(job)), version + ".0", strict=True)


def test_secret_as_the_play_sends_it_is_valid():
    meta = km.secret_meta(params(labels={"team": "x"}))
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta,
              "data": {km.SECRET_KEY: "W2RtXQp0eXBlID0gczMK"}}
    for version in VERSIONS:
        kubernetes_validate.validate(secret, version + ".0", strict=True)


def test_features_follow_the_server_version():
    old = km.job(params(server_version="v1.28.9", pods=4, backoff_limit_per_index=2))["spec"]
    assert "backoffLimitPerIndex" not in old and old["backoffLimit"] == 8
    assert "podFailurePolicy" not in old
    new = km.job(params(server_version={"major": "1", "minor": "30+"}))["spec"]
    assert new["backoffLimitPerIndex"] == 2 and "backoffLimit" not in new
    assert new["podFailurePolicy"]["rules"][1]["onExitCodes"]["values"] == [2, 3]
    with pytest.raises(km.ManifestError):
        km.parse_version("latest")


def test_one_indexed_job_every_pod_the_same_worker_loop():
    job = km.job(params(**FULL))
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 4
    assert spec["ttlSecondsAfterFinished"] == 86400 and spec["activeDeadlineSeconds"] == 604800
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "datamover-worker"
    assert pod["nodeSelector"] == FULL["node_selector"] and pod["tolerations"] == FULL["tolerations"]
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == {km.LABEL_JOB: job["metadata"]["name"]}
    ctr = pod["containers"][0]
    assert ctr["command"] == ["python3", "-m", km.WORKER_MODULE]
    args = ctr["args"]
    assert args[args.index("--worker") + 1] == "$(POD_NAME)"
    assert args[args.index("--slots") + 1] == "3"
    assert args[args.index("--rclone-config") + 1] == "/etc/datamover/rclone/rclone.conf"
    assert ctr["resources"] == FULL["resources"]
    assert ctr["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert job["metadata"]["labels"][km.LABEL_RUN] == "ckpt-2026-11"
    assert spec["template"]["metadata"]["labels"]["team"] == "ml-platform"


def test_rclone_config_only_as_a_read_only_secret_volume():
    job = km.job(params())
    pod = job["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    vol = [v for v in pod["volumes"] if "secret" in v][0]
    assert vol["secret"]["secretName"] == km.secret_meta(params())["name"]
    assert vol["secret"]["defaultMode"] == 0o400
    mount = [m for m in ctr["volumeMounts"] if m["name"] == vol["name"]][0]
    assert mount["readOnly"] is True and mount["mountPath"] == "/etc/datamover/rclone"
    assert all("valueFrom" not in e or "secretKeyRef" not in e["valueFrom"] for e in ctr["env"])
    assert "envFrom" not in ctr
    text = json.dumps(job)
    assert "RCLONE_CONFIG" not in text and "BASE64" not in text


def test_volumes_at_the_operator_paths_one_volume_per_claim():
    pod = km.job(params())["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/lst/ml-checkpoints"]["readOnly"] is True
    assert mounts["/lst/ml-checkpoints"]["subPath"] == "ml-checkpoints"
    assert mounts["/lst/datamover"]["readOnly"] is False
    assert mounts["/lst/datamover"]["name"] == mounts["/lst/ml-checkpoints"]["name"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
            if "persistentVolumeClaim" in v] == ["lustre"]
    rsync = km.job(params(tool="rsync", destination="/mnt/archive", destination_pvc="archive"))
    rmounts = {m["mountPath"]: m for m in rsync["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert rmounts["/mnt/archive"]["readOnly"] is False
    assert not [v for v in rsync["spec"]["template"]["spec"]["volumes"] if "secret" in v]


def test_non_root_by_default_root_on_request():
    pod = km.job(params())["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == 10001  # lets the uid read the 0400 Secret
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    root = km.job(params(run_as_user=0))["spec"]["template"]["spec"]
    assert root["securityContext"]["runAsUser"] == 0
    assert "capabilities" not in root["containers"][0]["securityContext"]


@pytest.mark.parametrize("run_id", ["ckpt-2026-11", "Run_With.Dots_AND_Caps", "x" * 128,
                                    "9-starts-with-digit", "a..b__c"])
def test_names_and_labels_are_valid_for_any_run_id(run_id):
    name = km.job_name(run_id)
    assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name) and len(name) <= 52
    value = km.label_value(run_id)
    assert len(value) <= 63 and re.match(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$", value)
    assert km.job_name(run_id) != km.job_name(run_id.upper() + "x")


def test_bad_parameters_name_the_variable():
    with pytest.raises(km.ManifestError, match="datamover_pods"):
        km.job(params(pods=0))
    with pytest.raises(km.ManifestError, match="datamover_kubernetes_destination_pvc"):
        km.job(params(tool="rsync", destination="/mnt/x"))
    with pytest.raises(km.ManifestError, match="absolute path"):
        km.job(params(tool="rsync", destination="relative", destination_pvc="d"))
