# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few API calls the watch and the guard make, through the kubernetes Python client
(the same client kubernetes.core uses, and the same kubeconfig). Creating objects is left to
kubernetes.core.k8s in the play; this reads a Job and its pods and deletes what a run created.
"""
from __future__ import annotations

import json
import os
import traceback

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError

try:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:  # reported by the modules with missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):  # never raised: the modules stop before any API call
        pass

AUTH_ARGS = dict(
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
)


class K8sError(DatamoverError):
    """An API call that failed, said in a way a user can act on."""


def api_client(kubeconfig=None, context=None):
    """kubeconfig file (or KUBECONFIG / ~/.kube/config), or the in-cluster service account."""
    try:
        if not kubeconfig and not os.environ.get("KUBECONFIG") \
                and not os.path.exists(os.path.expanduser("~/.kube/config")) \
                and os.environ.get("KUBERNETES_SERVICE_HOST"):
            cfg = k8s.Configuration()
            k8s_config.load_incluster_config(client_configuration=cfg)
            return k8s.ApiClient(cfg)
        return k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
    except Exception as exc:
        raise K8sError("cannot load the Kubernetes credentials (%s%s): %s" % (
            kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config",
            ", context %s" % context if context else "", exc))


def _call(what, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if getattr(exc, "status", None) == 404:
            return None
        raise K8sError("%s: HTTP %s %s" % (what, getattr(exc, "status", "?"),
                                           getattr(exc, "reason", exc)))
    except Exception as exc:  # connection refused, TLS, DNS: the message is the useful part
        raise K8sError("%s: %s" % (what, exc))


def read_job(api, namespace, name):
    """The Job as a plain dict (camelCase, as kubectl shows it), or None when it is gone."""
    batch = k8s.BatchV1Api(api)
    resp = _call("reading Job %s/%s" % (namespace, name), batch.read_namespaced_job, name,
                 namespace, _preload_content=False)
    return None if resp is None else _json(resp)


def list_pods(api, namespace, job_name):
    core = k8s.CoreV1Api(api)
    resp = _call("listing the pods of Job %s/%s" % (namespace, job_name),
                 core.list_namespaced_pod, namespace, label_selector="job-name=%s" % job_name,
                 _preload_content=False)
    return [] if resp is None else (_json(resp).get("items") or [])


def delete_run_objects(api, namespace, job_name, secret_name=None):
    """Delete the Job (its pods with it) and the Secret; returns what existed and was deleted."""
    deleted = []
    batch, core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
    if _call("deleting Job %s/%s" % (namespace, job_name), batch.delete_namespaced_job, job_name,
             namespace, propagation_policy="Background", _preload_content=False) is not None:
        deleted.append("job/" + job_name)
    if secret_name and _call("deleting Secret %s/%s" % (namespace, secret_name),
                             core.delete_namespaced_secret, secret_name, namespace,
                             _preload_content=False) is not None:
        deleted.append("secret/" + secret_name)
    return deleted


def _json(resp):
    return json.loads(resp.data)


def server_version(api):
    """The server's gitVersion (v1.31.2), from /version."""
    resp = _call("reading the server version", k8s.VersionApi(api).get_code,
                 _preload_content=False)
    if resp is None:
        raise K8sError("reading the server version: /version not found")
    return _json(resp).get("gitVersion")


def missing_objects(api, namespace, pvcs=(), service_account=None, secrets=()):
    """What the Job refers to but the namespace does not have, one line each."""
    core = k8s.CoreV1Api(api)
    problems = []
    if _call("reading namespace %s" % namespace, core.read_namespace, namespace,
             _preload_content=False) is None:
        return ["namespace %s does not exist (datamover_kubernetes_namespace)" % namespace]
    for claim in pvcs:
        found = _call("reading PVC %s/%s" % (namespace, claim),
                      core.read_namespaced_persistent_volume_claim, claim, namespace,
                      _preload_content=False)
        if found is None:
            problems.append("PersistentVolumeClaim %s does not exist in namespace %s"
                            % (claim, namespace))
    if service_account and _call("reading service account %s" % service_account,
                                 core.read_namespaced_service_account, service_account,
                                 namespace, _preload_content=False) is None:
        problems.append("service account %s does not exist in namespace %s (datamover_kubernetes_"
                        "service_account)" % (service_account, namespace))
    for name in secrets:
        if _call("reading Secret %s" % name, core.read_namespaced_secret, name, namespace,
                 _preload_content=False) is None:
            problems.append("image pull Secret %s does not exist in namespace %s"
                            % (name, namespace))
    return problems
