# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes objects of a run: one Indexed Job whose pods run worker_cli, and the
metadata of the Secret holding the rclone config. Pure functions: no API calls, no secrets
(the Secret's content is added by the play, with no_log, and never passes through here).

Every pod runs the same worker loop as an SSH host; pods differ only by name. The Job's
failure handling follows worker_cli's exit codes: 2 (cannot work on this run) and 3 (STOP)
fail the Job at once, 1 (crash) restarts that index a few times, a pod evicted or preempted
(DisruptionTarget) is replaced without counting as a failure.
"""
from __future__ import annotations

import re
import zlib

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError
from ansible_collections.datamover.fleet.plugins.module_utils.work.settings import (
    EXIT_STOPPED,
    EXIT_UNUSABLE,
    budget_share,
    cli_arguments,
)

WORKER_MODULE = "ansible_collections.datamover.fleet.plugins.module_utils.work.worker_cli"
LABEL_RUN = "datamover.fleet/run-id"
LABEL_JOB = "datamover.fleet/job"
SECRET_KEY = "rclone.conf"


class ManifestError(DatamoverError):
    """A parameter that cannot make a valid Job; says which variable to fix."""


def parse_version(server_version):
    """(major, minor) from '1.30', 'v1.30.2', {'major': '1', 'minor': '30+'}."""
    if isinstance(server_version, dict):
        text = "%s.%s" % (server_version.get("major", ""), server_version.get("minor", ""))
    else:
        text = str(server_version or "")
    m = re.match(r"^v?(\d+)\.(\d+)", text.strip())
    if not m:
        raise ManifestError("cannot read the Kubernetes server version %r" % (server_version,))
    return int(m.group(1)), int(m.group(2))


def features(server_version):
    """What the cluster's batch/v1 Job has (each on by default from that minor version)."""
    version = parse_version(server_version)
    return {
        # beta and on by default since 1.26, but the 1.26-1.28 OpenAPI makes onPodConditions
        # required in every rule, so an exit-code rule would not validate there: 1.29+.
        "pod_failure_policy": version >= (1, 29),      # GA 1.31
        "backoff_limit_per_index": version >= (1, 29),  # beta, on by default; GA 1.33
    }


def _dns_label(text, limit):
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "run"
    return clean[:limit].rstrip("-")


def job_name(run_id):
    """DNS-1123 label short enough for an Indexed Job's pod hostnames (name-index <= 63).
    The checksum keeps run ids that differ only by case or punctuation apart."""
    return "dm-%s-%08x" % (_dns_label(run_id, 40), zlib.crc32(run_id.encode()) & 0xFFFFFFFF)


def label_value(run_id):
    if len(run_id) <= 63 and re.match(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$", run_id):
        return run_id
    return "%s-%08x" % (re.sub(r"[^A-Za-z0-9._-]", "-", run_id)[:50].strip("._-") or "run",
                        zlib.crc32(run_id.encode()) & 0xFFFFFFFF)


def labels(p):
    out = dict(p.get("labels") or {})
    out.update({
        "app.kubernetes.io/name": "datamover-worker",
        "app.kubernetes.io/managed-by": "datamover.fleet",
        "app.kubernetes.io/instance": job_name(p["run_id"]),
        LABEL_RUN: label_value(p["run_id"]),
        LABEL_JOB: job_name(p["run_id"]),
    })
    return out


def secret_meta(p):
    return {"name": job_name(p["run_id"]) + "-rclone", "namespace": p["namespace"],
            "labels": labels(p)}


def _volumes(p):
    """PVC volumes (one per claim, even when source and shared dir share it) and mounts at the
    same paths as on the operator host: run.json names those paths."""
    volumes, mounts, by_claim = [], [], {}
    wanted = [("source", p["source"], True), ("shared", p["shared_dir"], False)]
    if p["tool"] == "rsync":
        wanted.append(("destination", p["destination"], False))
    for role, path, read_only in wanted:
        claim = p.get(role + "_pvc")
        if not claim:
            raise ManifestError("datamover_kubernetes_%s_pvc is required (the PVC holding %s)"
                                % (role, path))
        if not str(path).startswith("/"):
            raise ManifestError("%s %r must be an absolute path (the mount path in the pods)"
                                % (role, path))
        if claim not in by_claim:
            by_claim[claim] = "pvc-%d" % len(by_claim)
            volumes.append({"name": by_claim[claim],
                            "persistentVolumeClaim": {"claimName": claim}})
        mount = {"name": by_claim[claim], "mountPath": str(path).rstrip("/") or "/",
                 "readOnly": read_only}
        if p.get(role + "_subpath"):
            mount["subPath"] = p[role + "_subpath"]
        mounts.append(mount)
    volumes.append({"name": "tmp", "emptyDir": {}})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    if p["tool"] == "rclone":
        # A Secret volume, read-only, readable by the owner only (fsGroup adds group read for
        # a non-root user); never an environment variable, never in the Job spec.
        volumes.append({"name": "rclone-config", "secret": {
            "secretName": secret_meta(p)["name"], "defaultMode": 0o400,
            "items": [{"key": SECRET_KEY, "path": SECRET_KEY}]}})
        mounts.append({"name": "rclone-config", "mountPath": p["secret_mount"], "readOnly": True})
    return volumes, mounts


def worker_args(p):
    settings = {name: p[name] for name in ("slots", "retries", "backoff", "lease_seconds",
                                           "run_wait")}
    # each pod takes an equal share of the fleet's request budget
    settings["max_requests_per_second"] = budget_share(p.get("max_requests_per_second"),
                                                       p["pods"]) or None
    if p["tool"] == "rclone":
        settings["rclone_config"] = "%s/%s" % (p["secret_mount"].rstrip("/"), SECRET_KEY)
    return (["--shared-dir", p["shared_dir"], "--run-id", p["run_id"], "--worker", "$(POD_NAME)"]
            + cli_arguments(settings))


def _security(p):
    uid = int(p.get("run_as_user", 10001))
    pod = {"seccompProfile": {"type": "RuntimeDefault"}}
    container = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True}
    if uid == 0:
        # rsync keeping owners, or reading every user's files: root (documented).
        pod.update(runAsUser=0, runAsNonRoot=False)
    else:
        gid = int(p.get("run_as_group") or uid)
        pod.update(runAsUser=uid, runAsGroup=gid, fsGroup=gid, runAsNonRoot=True)
        container["capabilities"] = {"drop": ["ALL"]}
    return pod, container


def _failure_policy(p, feats):
    rules = [
        # Eviction, preemption, node drain: replace the pod, do not count it as a failure.
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        # worker_cli 2 (cannot work on this run) or 3 (STOP): restarting will not help.
        {"action": "FailJob", "onExitCodes": {"containerName": "worker", "operator": "In",
                                              "values": [EXIT_UNUSABLE, EXIT_STOPPED]}},
    ]
    return {"rules": rules} if feats["pod_failure_policy"] else None


def _container(p):
    """The worker container: worker_cli with the run's settings."""
    volumes, mounts = _volumes(p)
    ctr_sec = _security(p)[1]
    container = {
        "name": "worker",
        "image": p["image"],
        "imagePullPolicy": p.get("image_pull_policy") or "IfNotPresent",
        "command": ["python3", "-m", WORKER_MODULE],
        "args": worker_args(p),
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "HOME", "value": "/tmp"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "volumeMounts": mounts,
        "securityContext": ctr_sec,
        # worker_cli's last stderr line says why it stopped: it becomes the pod's reason.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if p.get("resources"):
        container["resources"] = p["resources"]
    return container, volumes


def _pod_spec(p, name):
    container, volumes = _container(p)
    pod_spec = {
        "restartPolicy": "Never",
        # The workers never call the API: no token in the pods.
        "automountServiceAccountToken": False,
        "securityContext": _security(p)[0],
        "containers": [container],
        "volumes": volumes,
        # Spread the pods over nodes when the scheduler can (not a hard rule: fewer nodes
        # than pods must still run).
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {"matchLabels": {LABEL_JOB: name}}}}]}},
        # The worker releases its claims on SIGTERM; give the transfer tools time to stop.
        "terminationGracePeriodSeconds": 60,
    }
    if p.get("service_account"):
        pod_spec["serviceAccountName"] = p["service_account"]
    if p.get("node_selector"):
        pod_spec["nodeSelector"] = dict(p["node_selector"])
    if p.get("tolerations"):
        pod_spec["tolerations"] = list(p["tolerations"])
    if p.get("image_pull_secrets"):
        pod_spec["imagePullSecrets"] = [{"name": n} for n in p["image_pull_secrets"]]
    return pod_spec


def job(p):
    """The Indexed Job for parameters p (see the k8s_worker_job module for their meaning)."""
    pods = int(p["pods"])
    if pods < 1:
        raise ManifestError("datamover_pods must be at least 1 (got %d)" % pods)
    feats = features(p["server_version"])
    name = job_name(p["run_id"])
    meta_labels = labels(p)
    spec = {
        "completionMode": "Indexed",
        "completions": pods,
        "parallelism": pods,
        "ttlSecondsAfterFinished": int(p["ttl_seconds_after_finished"]),
        "activeDeadlineSeconds": int(p["active_deadline_seconds"]),
        "template": {"metadata": {"labels": meta_labels}, "spec": _pod_spec(p, name)},
    }
    per_index = int(p.get("backoff_limit_per_index", 2))
    if feats["backoff_limit_per_index"]:
        spec["backoffLimitPerIndex"] = per_index
    else:
        spec["backoffLimit"] = per_index * pods
    policy = _failure_policy(p, feats)
    if policy:
        spec["podFailurePolicy"] = policy
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": p["namespace"], "labels": meta_labels},
            "spec": spec}
