"""A FAKE Kubernetes API server for the tests (no real one can run on these machines).

It is NOT Kubernetes. It implements the subset of the API that kubernetes.core and the
kubernetes Python client use for a datamover run, over plain HTTP with a bearer token:
discovery (/api, /apis, /api/v1, /apis/batch/v1), /version, namespaces, PVCs, service
accounts, Secrets, pods (read, list by label) and Jobs (create, get, merge-patch, delete with
propagationPolicy), and a small Job controller for Indexed Jobs:

- each index gets a pod; the pod "runs" as a local process: fake_k8s_pod.py puts it in its own
  mount namespace with every volume bind-mounted at its mountPath (PVC -> a host directory the
  test names, Secret -> files written from the Secret's data with its defaultMode, emptyDir ->
  a fresh directory), then execs the container's command and args exactly as rendered, with
  $(VAR) expanded, the container's env, HOSTNAME = pod name, JOB_COMPLETION_INDEX, and the
  image's PATH/PYTHONPATH (an image unknown to the fake stays in ErrImagePull, as a real
  cluster would leave it);
- a pod's exit code becomes its terminated state (message: the log's tail, as with
  terminationMessagePolicy FallbackToLogsOnError); podFailurePolicy (onExitCodes,
  onPodConditions DisruptionTarget), backoffLimitPerIndex, backoffLimit and
  activeDeadlineSeconds decide whether the index is restarted with a new pod or the Job fails;
- the Job gets Complete (with SuccessCriteriaMet) or Failed (with FailureTarget) conditions;
- deleting a Job with Background/Foreground propagation terminates its pods (SIGTERM, then
  SIGKILL of the pod's process group); without it (the API's default for Jobs) they keep
  running, as in a real cluster.

Everything it received is kept (``created``, ``requests``) so tests can validate the manifests
against the real schemas and look for secrets.
"""
from __future__ import annotations

import base64
import copy
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_k8s_pod.py")
CORE = {"namespaces": ("Namespace", False), "secrets": ("Secret", True),
        "pods": ("Pod", True), "persistentvolumeclaims": ("PersistentVolumeClaim", True),
        "serviceaccounts": ("ServiceAccount", True)}
BATCH = {"jobs": ("Job", True)}


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _resource_list(group_version, table):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": ns,
                           "kind": kind, "verbs": ["create", "delete", "get", "list", "patch",
                                                   "update", "watch"]}
                          for plural, (kind, ns) in table.items()]}


def _status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _merge(target, patch):
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _public(obj):
    """What the API returns: the fake's own bookkeeping (``_fake``) stays inside."""
    return copy.deepcopy({k: v for k, v in obj.items() if k != "_fake"})


def expand(text, env):
    """Kubernetes' $(VAR) expansion in command/args: $$ escapes, unknown names stay as they are."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


class FakeKubernetes:
    def __init__(self, workdir=None, version="v1.31.2", namespaces=("datamover",), pvcs=None,
                 images=None, grace_cap=5.0):
        self.workdir = workdir or tempfile.mkdtemp(prefix="dm-fake-k8s-")
        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        self.version = version
        self.token = uuid.uuid4().hex
        self.pvcs = dict(pvcs or {})          # claim name -> host directory
        self.images = dict(images or {})      # image -> {"PATH": ..., "PYTHONPATH": ...}
        self.grace_cap = grace_cap
        self.lock = threading.RLock()
        self.objects = {}                     # (plural, namespace, name) -> object
        self.created = []                     # every object as the client sent it
        self.requests = []                    # (method, path)
        self.events = []                      # (job name, condition) as Jobs end
        self.procs = {}                       # pod name -> Popen
        self.made_dirs = []
        self._stop = threading.Event()
        for ns in namespaces:
            self.objects[("namespaces", None, ns)] = {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                "status": {"phase": "Active"}}
            self.objects[("serviceaccounts", ns, "default")] = {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns}}
            for claim in self.pvcs:
                self.objects[("persistentvolumeclaims", ns, claim)] = {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim, "namespace": ns},
                    "spec": {"accessModes": ["ReadWriteMany"]}, "status": {"phase": "Bound"}}

    # --- life cycle ---------------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("Authorization") != "Bearer " + fake.token:
                    return self._reply(401, _status(401, "Unauthorized", "Unauthorized"))
                body = json.loads(raw) if raw else None
                try:
                    code, out = fake.handle(self.command, self.path, body)
                except Exception as exc:  # a bug in the fake: say so loudly
                    code, out = 500, _status(500, "InternalError", "fake-k8s: %r" % exc)
                self._reply(code, out)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], ConnectionError):  # a client went away
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._controller = threading.Thread(target=self._control_loop, daemon=True)
        self._controller.start()
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def write_kubeconfig(self, path):
        conf = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "fake", "user": {"token": self.token}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(conf, handle)
        return path

    def stop(self):
        self._stop.set()
        with self.lock:
            names = list(self.procs)
        for name in names:
            self._kill_pod(name, signal.SIGKILL)
        self.server.shutdown()
        self.server.server_close()
        for path in reversed(self.made_dirs):
            try:
                os.rmdir(path)
            except OSError:
                pass

    # --- what tests look at -------------------------------------------------------------
    def get(self, plural, namespace, name):
        with self.lock:
            return copy.deepcopy(self.objects.get((plural, namespace, name)))

    def list(self, plural, namespace=None):
        with self.lock:
            return [copy.deepcopy(o) for (p, ns, _), o in sorted(self.objects.items(),
                                                                  key=lambda kv: str(kv[0]))
                    if p == plural and (namespace is None or ns == namespace)]

    def running_pods(self):
        with self.lock:
            return sorted(n for n, p in self.procs.items() if p.poll() is None)

    def kill_pod(self, name, sig=signal.SIGKILL):
        """The pod's process group dies at once (a node lost, an OOM kill)."""
        self._kill_pod(name, sig)

    def pod_log(self, name):
        path = os.path.join(self.workdir, "pods", name, "log")
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    # --- the API ------------------------------------------------------------------------
    def handle(self, method, raw_path, body):
        url = urlparse(raw_path)
        path, query = url.path.rstrip("/"), parse_qs(url.query)
        with self.lock:
            self.requests.append((method, path))
        if path == "/version":
            major, minor = re.match(r"v(\d+)\.(\d+)", self.version).groups()
            return 200, {"major": major, "minor": minor, "gitVersion": self.version,
                         "gitCommit": "0" * 40, "gitTreeState": "clean",
                         "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
                         "compiler": "gc", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "batch", "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"}}]}
        if path == "/api/v1":
            return 200, _resource_list("v1", CORE)
        if path == "/apis/batch/v1":
            return 200, _resource_list("batch/v1", BATCH)
        m = re.match(r"^/api/v1/namespaces(?:/([^/]+))?$", path)
        if m:
            return self._crud(method, "namespaces", None, m.group(1), body, query)
        m = re.match(r"^/api/v1/namespaces/([^/]+)/([a-z]+)(?:/([^/]+))?$", path) or \
            re.match(r"^/apis/batch/v1/namespaces/([^/]+)/([a-z]+)(?:/([^/]+))?$", path)
        if m and m.group(2) in (CORE if path.startswith("/api/") else BATCH):
            return self._crud(method, m.group(2), m.group(1), m.group(3), body, query)
        return 404, _status(404, "NotFound", "fake-k8s does not serve %s %s" % (method, path))

    def _crud(self, method, plural, ns, name, body, query):
        key = (plural, ns, name)
        kind = (CORE.get(plural) or BATCH.get(plural))[0]
        with self.lock:
            if method == "GET" and name is None:
                sel = dict(kv.split("=", 1) for kv in (query.get("labelSelector", [""])[0]
                                                     .split(",")) if "=" in kv)
                items = [_public(o) for o in self.list(plural, ns)
                         if all(o["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
                return 200, {"kind": kind + "List", "apiVersion": "v1", "metadata": {},
                             "items": items}
            if method == "GET":
                obj = self.objects.get(key)
                return (200, _public(obj)) if obj else self._not_found(plural, name)
            if method == "POST":
                self.created.append(copy.deepcopy(body))
                name = body.get("metadata", {}).get("name")
                key = (plural, ns, name)
                if key in self.objects:
                    return 409, _status(409, "AlreadyExists", '%s "%s" already exists'
                                        % (plural, name))
                problem = self._admit(plural, body)
                if problem:
                    return 422, _status(422, "Invalid", problem)
                obj = copy.deepcopy(body)
                obj["metadata"].update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion="1",
                                       creationTimestamp=_now())
                self.objects[key] = obj
                if plural == "jobs":
                    self._start_job(obj)
                return 201, _public(obj)
            if method == "PATCH":
                obj = self.objects.get(key)
                if not obj:
                    return self._not_found(plural, name)
                _merge(obj, {k: v for k, v in body.items() if k != "status"})
                obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
                return 200, _public(obj)
            if method == "DELETE":
                obj = self.objects.pop(key, None)
                if not obj:
                    return self._not_found(plural, name)
                policy = (body or {}).get("propagationPolicy") or \
                    query.get("propagationPolicy", [None])[0]
                if plural == "jobs" and policy in ("Background", "Foreground"):
                    for pod in self._job_pods(name, ns):
                        self._delete_pod(pod["metadata"]["name"], ns)
                elif plural == "pods":
                    self._terminate(name)
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                             "details": {"name": name, "kind": plural}}
        return 405, _status(405, "MethodNotAllowed", method)

    @staticmethod
    def _not_found(plural, name):
        return 404, _status(404, "NotFound", '%s "%s" not found' % (plural, name))

    @staticmethod
    def _admit(plural, obj):
        """The few server-side rules a wrong Job would meet first."""
        if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", obj["metadata"].get("name", "")):
            return "metadata.name: Invalid value"
        if plural != "jobs":
            return None
        spec = obj.get("spec") or {}
        if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
            return "spec.completions: Required value: when completion mode is Indexed"
        if spec.get("podFailurePolicy") and \
                spec["template"]["spec"].get("restartPolicy") != "Never":
            return "spec.template.spec.restartPolicy: only Never with podFailurePolicy"
        return None

    # --- the Job controller ---------------------------------------------------------------
    def _start_job(self, job):
        spec = job["spec"]
        job["status"] = {"active": 0, "ready": 0, "succeeded": 0, "failed": 0,
                         "startTime": _now(), "conditions": []}
        job["_fake"] = {"started": time.time(), "index_failures": {}, "done": set(),
                        "failed_indexes": set(), "failures": 0}
        for index in range(min(int(spec.get("parallelism", 1)), int(spec["completions"]))):
            self._create_pod(job, index)

    def _job_pods(self, job_name, ns):
        return [o for (p, n, _), o in self.objects.items()
                if p == "pods" and n == ns and o["metadata"]["labels"].get("job-name") == job_name]

    def _create_pod(self, job, index):
        ns, job_name = job["metadata"]["namespace"], job["metadata"]["name"]
        name = "%s-%d-%s" % (job_name, index,
                             "".join(random.choice(string.ascii_lowercase) for _ in range(5)))
        template = copy.deepcopy(job["spec"]["template"])
        labels = dict(template["metadata"].get("labels") or {})
        labels.update({"job-name": job_name, "batch.kubernetes.io/job-name": job_name,
                       "controller-uid": job["metadata"]["uid"],
                       "batch.kubernetes.io/job-completion-index": str(index)})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns, "labels": labels,
                            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                            "uid": str(uuid.uuid4()), "creationTimestamp": _now(),
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                 "name": job_name, "uid": job["metadata"]["uid"],
                                                 "controller": True}]},
               "spec": template["spec"], "status": {"phase": "Pending"},
               "_fake": {"job": job_name, "index": index}}
        self.objects[("pods", ns, name)] = pod
        ctr = pod["spec"]["containers"][0]
        image = self.images.get(ctr["image"])
        if image is None:
            pod["status"]["containerStatuses"] = [{"name": ctr["name"], "ready": False, "state": {
                "waiting": {"reason": "ErrImagePull", "message": 'fake-k8s: image "%s" is not '
                            "one the fake can run" % ctr["image"]}}}]
            return
        try:
            # The image's own files are always there in a container, whatever the volumes: the
            # fake's image is host directories (the checkout, the venv), mounted at themselves
            # after the volumes (an emptyDir on /tmp must not hide a checkout under /tmp).
            mounts = self._mounts(pod, ns) + [
                {"source": layer, "target": layer, "readOnly": True}
                for layer in image.get("layers", ())]
        except LookupError as exc:
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False",
                                            "reason": "Unschedulable", "message": str(exc)}]
            return
        env = {"PATH": image.get("PATH", "/usr/bin:/bin"), "HOSTNAME": name,
               "JOB_COMPLETION_INDEX": str(index)}
        if image.get("PYTHONPATH"):
            env["PYTHONPATH"] = image["PYTHONPATH"]
        for item in ctr.get("env") or []:
            if "value" in item:
                env[item["name"]] = expand(item["value"], env)
            elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                env[item["name"]] = name
        argv = [expand(a, env) for a in (ctr.get("command") or []) + (ctr.get("args") or [])]
        pod_dir = os.path.join(self.workdir, "pods", name)
        os.makedirs(pod_dir, mode=0o700)
        spec_path = os.path.join(pod_dir, "spec.json")
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"mounts": mounts, "argv": argv, "env": env,
                       "cwd": ctr.get("workingDir") or "/"}, handle)
        log = open(os.path.join(pod_dir, "log"), "wb")
        proc = subprocess.Popen([sys.executable, LAUNCHER, spec_path], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={"PATH": "/usr/bin:/bin"}, close_fds=True)
        log.close()
        self.procs[name] = proc
        pod["_fake"].update(pid=proc.pid, argv=argv, env=env, mounts=mounts, started=time.time())
        pod["status"] = {"phase": "Running", "startTime": _now(), "containerStatuses": [{
            "name": ctr["name"], "ready": True, "restartCount": 0,
            "state": {"running": {"startedAt": _now()}}}]}
        job = self.objects[("jobs", ns, pod["_fake"]["job"])]
        job["status"]["active"] += 1
        job["status"]["ready"] += 1

    def _mounts(self, pod, ns):
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        empty_targets = [m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]
                         if "emptyDir" in volumes[m["name"]]]
        out = []
        for m in pod["spec"]["containers"][0].get("volumeMounts") or []:
            vol = volumes[m["name"]]
            if "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"]["claimName"]
                if claim not in self.pvcs:
                    raise LookupError('persistentvolumeclaim "%s" not found' % claim)
                source = os.path.join(self.pvcs[claim], m.get("subPath", ""))
            elif "secret" in vol:
                source = self._secret_dir(pod, vol["secret"], ns)
            elif "emptyDir" in vol:
                source = tempfile.mkdtemp(prefix="emptydir-", dir=self.workdir)
            else:
                raise LookupError("fake-k8s cannot mount volume %s" % m["name"])
            target = m["mountPath"]
            if not any(target.startswith(t.rstrip("/") + "/") for t in empty_targets):
                self._make_mountpoint(target)
            out.append({"source": source, "target": target, "readOnly": bool(m.get("readOnly"))})
        return out

    def _make_mountpoint(self, target):
        missing = []
        path = target
        while path and path != "/" and not os.path.exists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for path in reversed(missing):
            os.mkdir(path)
            self.made_dirs.append(path)

    def _secret_dir(self, pod, vol, ns):
        secret = self.objects.get(("secrets", ns, vol["secretName"]))
        if secret is None:
            raise LookupError('secret "%s" not found' % vol["secretName"])
        path = tempfile.mkdtemp(prefix="secret-", dir=self.workdir)  # 0700
        items = vol.get("items") or [{"key": k, "path": k} for k in secret.get("data") or {}]
        for item in items:
            data = base64.b64decode(secret["data"][item["key"]])
            mode = item.get("mode", vol.get("defaultMode", 0o644))
            fd = os.open(os.path.join(path, item["path"]), os.O_WRONLY | os.O_CREAT, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        return path

    def _control_loop(self):
        while not self._stop.wait(0.1):
            with self.lock:
                for name, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is not None:
                        del self.procs[name]
                        self._pod_exited(name, -code + 128 if code < 0 else code)
                for (plural, _, _), job in list(self.objects.items()):
                    if plural == "jobs" and not job["status"].get("conditions"):
                        deadline = job["spec"].get("activeDeadlineSeconds")
                        if deadline and time.time() - job["_fake"]["started"] > deadline:
                            self._fail_job(job, "DeadlineExceeded",
                                           "Job was active longer than specified deadline")

    def _pod_exited(self, name, code):
        pod = next((o for (p, _, n), o in self.objects.items() if p == "pods" and n == name), None)
        if pod is None:
            return
        ns, fake = pod["metadata"]["namespace"], pod["_fake"]
        ctr = pod["spec"]["containers"][0]
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": pod["status"].get("startTime"), "finishedAt": _now()}
        if code != 0 and ctr.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            term["message"] = self.pod_log(name)[-2048:]
        if code == 137 and not fake.get("deleted"):
            term["reason"] = "OOMKilled" if fake.get("oom") else "Error"
        pod["status"].update(phase="Succeeded" if code == 0 else "Failed")
        pod["status"]["containerStatuses"][0].update(ready=False, state={"terminated": term})
        job = self.objects.get(("jobs", ns, fake["job"]))
        if job is None or job["status"].get("conditions") or fake.get("deleted"):
            return
        st, jf, index = job["status"], job["_fake"], fake["index"]
        st["active"] -= 1
        st["ready"] -= 1
        if code == 0:
            st["succeeded"] += 1
            jf["done"].add(index)
        else:
            st["failed"] += 1
            action = self._policy_action(job, pod, code)
            if action == "FailJob":
                return self._fail_job(job, "PodFailurePolicy",
                                      "Container %s for pod %s/%s failed with exit code %d "
                                      "matching FailJob rule at index 1"
                                      % (ctr["name"], ns, name, code))
            if action != "Ignore":
                jf["failures"] += 1
                jf["index_failures"][index] = jf["index_failures"].get(index, 0) + 1
                per_index = job["spec"].get("backoffLimitPerIndex")
                if per_index is not None and jf["index_failures"][index] > per_index:
                    jf["failed_indexes"].add(index)
                elif per_index is None and jf["failures"] > job["spec"].get("backoffLimit", 6):
                    return self._fail_job(job, "BackoffLimitExceeded",
                                          "Job has reached the specified backoff limit")
                else:
                    self._create_pod(job, index)
                    return
            else:
                self._create_pod(job, index)
                return
        completions = int(job["spec"]["completions"])
        if len(jf["done"]) + len(jf["failed_indexes"]) == completions:
            if jf["failed_indexes"]:
                return self._fail_job(job, "FailedIndexes", "Job has failed indexes")
            cond = {"status": "True", "lastTransitionTime": _now(), "lastProbeTime": _now()}
            st["conditions"] = [dict(cond, type="SuccessCriteriaMet", reason="CompletionsReached"),
                                dict(cond, type="Complete", reason="CompletionsReached")]
            st["completionTime"] = _now()
            self.events.append((job["metadata"]["name"], "Complete"))

    @staticmethod
    def _policy_action(job, pod, code):
        for rule in (job["spec"].get("podFailurePolicy") or {}).get("rules") or []:
            on_codes = rule.get("onExitCodes")
            if on_codes:
                hit = code in on_codes["values"]
                if on_codes.get("containerName") not in (None, pod["spec"]["containers"][0]["name"]):
                    continue
                if hit == (on_codes["operator"] == "In"):
                    return rule["action"]
            for cond in rule.get("onPodConditions") or []:
                if any(c.get("type") == cond["type"] and c.get("status", "True") == "True"
                       for c in pod["status"].get("conditions") or []):
                    return rule["action"]
        return "Count"

    def _fail_job(self, job, reason, message):
        cond = {"status": "True", "lastTransitionTime": _now(), "lastProbeTime": _now(),
                "reason": reason, "message": message}
        job["status"]["conditions"] = [dict(cond, type="FailureTarget"), dict(cond, type="Failed")]
        self.events.append((job["metadata"]["name"], "Failed"))
        for pod in self._job_pods(job["metadata"]["name"], job["metadata"]["namespace"]):
            if pod["metadata"]["name"] in self.procs:
                pod["_fake"]["deleted"] = True
                self._terminate(pod["metadata"]["name"])
        job["status"]["active"] = job["status"]["ready"] = 0

    def _delete_pod(self, name, ns):
        pod = self.objects.pop(("pods", ns, name), None)
        if pod is not None:
            pod["_fake"]["deleted"] = True
            self.objects[("deleted-pods", ns, name)] = pod
        self._terminate(name)

    def _terminate(self, name):
        """SIGTERM to the container's process, SIGKILL to the pod after the grace period."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        timer = threading.Timer(self.grace_cap, self._kill_pod, args=(name, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def _kill_pod(self, name, sig):
        proc = self.procs.get(name)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            proc.wait()


def collections_image(collections_dir, venv_bin):
    """The fake's stand-in for the worker image: the venv's python3 and tools on PATH, and the
    collection on PYTHONPATH (what images/worker/Containerfile installs). Its layers are the
    checkout the collection links to and the venv."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(collections_dir)))
    venv = os.path.dirname(os.path.abspath(venv_bin))
    layers = [checkout] + ([venv] if not venv.startswith(checkout + os.sep) else [])
    return {"PATH": venv_bin + ":/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": collections_dir,
            "layers": layers}


def cleanup_workdir(fake):
    shutil.rmtree(fake.workdir, ignore_errors=True)
