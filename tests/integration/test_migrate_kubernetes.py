"""datamover_executor=kubernetes end to end: the real play (ansible-runner, kubernetes.core, the
kubernetes client) against a FAKE Kubernetes API server (tests/lab/fake_k8s.py; no real one
can run on these machines).

What is real here: the play, its tasks and modules, every API request they make, the Job and
Secret exactly as the play sent them (validated against the real OpenAPI schema of the fake's
version), the pods' command, args and env exactly as rendered (executed as local processes in
their own mount namespaces, the Secret's file and the PVCs at their mount paths), the worker
loop, rclone against a real S3 server (SeaweedFS) and rsync. What is fake: the API server, its
Job controller and its "container runtime"; scheduling, images and nodes do not exist.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.k8s.guard import GuardProgram
from ansible_collections.datamover.fleet.plugins.module_utils.plan.background import PlanProgram
from ansible_collections.datamover.fleet.plugins.module_utils.work import detach
from tests.conftest import COLLECTIONS, ROOT, VENV_BIN, run_playbook
from tests.lab.fake_k8s import FakeKubernetes, cleanup_workdir, collections_image
from tests.lab.seaweed import SECRET_KEY, rclone_binary
from tests.lab.trees import diff_trees, sample_tree

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the fake's pods need mount namespaces (root)"),
    pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed"),
]
IMAGE = "registry.example/datamover-worker:test"
NS = "datamover"
PLAYBOOK = "playbooks/migrate_kubernetes.yml"


class Lab:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.data = tmp_path / "data"          # one PVC ("data") holds source and shared dir
        self.src, self.shared = self.data / "src", self.data / "shared"
        self.dst = tmp_path / "dst"            # the rsync destination PVC ("dest")
        self.elsewhere = tmp_path / "elsewhere"  # a PVC that is not the operator's file system
        for d in (self.src, self.shared, self.dst, self.elsewhere):
            d.mkdir(parents=True)
        self.fake = FakeKubernetes(
            workdir=str(tmp_path / "fake"), version="v1.31.2",
            pvcs={"data": str(self.data), "dest": str(self.dst), "elsewhere": str(self.elsewhere)},
            images={IMAGE: collections_image(COLLECTIONS, VENV_BIN)}).start()
        self.kubeconfig = self.fake.write_kubeconfig(str(tmp_path / "kubeconfig"))
        self.inventory = str(tmp_path / "operator.yml")
        with open(self.inventory, "w") as handle:
            handle.write("all:\n  hosts:\n    operator:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")

    def vars(self, tool, destination, **extra):
        base = {
            "datamover_source": str(self.src), "datamover_destination": str(destination),
            "datamover_tool": tool, "datamover_shared_dir": str(self.shared),
            "datamover_kubernetes_image": IMAGE, "datamover_kubernetes_namespace": NS,
            "datamover_kubernetes_kubeconfig": self.kubeconfig,
            "datamover_kubernetes_source_pvc": "data", "datamover_kubernetes_source_subpath": "src",
            "datamover_kubernetes_shared_pvc": "data", "datamover_kubernetes_shared_subpath": "shared",
            "datamover_kubernetes_run_wait": 20, "datamover_watch_interval": 2,
            "datamover_backoff": 0.2, "datamover_pods": 3, "datamover_slots": 2,
        }
        if tool == "rsync":
            base["datamover_kubernetes_destination_pvc"] = "dest"
        base.update(extra)
        return base

    def jobs_and_secrets(self):
        return self.fake.list("jobs", NS) + self.fake.list("secrets", NS)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.fake.stop()
    cleanup_workdir(lab.fake)


def _validate(manifest, version):
    import kubernetes_validate
    clean = json.loads(json.dumps(manifest))
    for key in ("status", "_fake"):
        clean.pop(key, None)
    kubernetes_validate.validate(clean, version, strict=True)


def _wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class ProcessWatch:
    """Samples, while a play runs, what Ansible's async would show: an async_wrapper process,
    entries in ~/.ansible_async; and any process whose arguments hold a secret."""

    ASYNC_DIR = os.path.expanduser("~/.ansible_async")

    def __init__(self, secret):
        self.secret = secret.encode()
        self.seen = {"async_wrapper": set(), "ansible_async": set(), "secret in argv": set()}
        self.before = self._async_entries()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _async_entries(self):
        return set(os.listdir(self.ASYNC_DIR)) if os.path.isdir(self.ASYNC_DIR) else set()

    def _loop(self):
        while not self.stop.wait(0.2):
            self.seen["ansible_async"] |= self._async_entries() - self.before
            for path in glob.glob("/proc/[0-9]*/cmdline"):
                try:
                    with open(path, "rb") as handle:
                        argv = handle.read()
                except OSError:
                    continue
                if b"async_wrapper" in argv:
                    self.seen["async_wrapper"].add(argv.replace(b"\0", b" ")[:200])
                if self.secret in argv:
                    self.seen["secret in argv"].add(argv.replace(b"\0", b" ")[:200])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _detached_dirs():
    """The private directories of detached planners and guards (work/detach.py)."""
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "datamover-plan-*"))
               + glob.glob(os.path.join(tempfile.gettempdir(), "datamover-guard-*")))


def _task_result(run, name_part):
    """The result of the play's task whose name holds ``name_part``."""
    for event in run.runner.events:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and name_part in (data.get("task") or ""):
            return data.get("res") or {}
    raise AssertionError("no result for a task named like %r" % name_part)


def _claims_of(shared, run_id, pod):
    claimed = os.path.join(str(shared), run_id, "state", "claimed")
    return sorted(n.split("@")[0] for n in os.listdir(claimed) if "@" + pod + "~" in n) \
        if os.path.isdir(claimed) else []


def test_rclone_pods_move_the_tree_a_killed_pod_is_taken_over(lab, s3):
    files, nbytes = sample_tree(str(lab.src), files=500, big_files=0)
    conf = s3.write_rclone_config(str(lab.tmp / "rclone.conf"))
    dest = "dmtest:dmtest/%s" % lab.tmp.name
    run_id = "k8s-s3"
    out = {}
    dirs_before = _detached_dirs()
    thread = threading.Thread(target=lambda: out.update(run=run_playbook(
        lab.tmp, lab.vars("rclone", dest, datamover_rclone_config=conf, datamover_run_id=run_id,
                          datamover_partition_files=20, datamover_lease_seconds=4,
                          datamover_tool_options=["--tpslimit", "15"]),
        inventory=lab.inventory, playbook=PLAYBOOK)))
    with ProcessWatch(SECRET_KEY) as procs:
        thread.start()
        try:
            # a pod holding a claim dies at once (node lost): SIGKILL to its whole process group
            victim = _wait(lambda: next((p for p in lab.fake.running_pods()
                                         if _claims_of(lab.shared, run_id, p)), None), 120,
                           "a pod with a claim")
            held = _claims_of(lab.shared, run_id, victim)
            lab.fake.kill_pod(victim)
        finally:
            thread.join(600)
    run = out["run"]
    assert run.rc == 0, run.stdout[-5000:]
    # no Ansible async at any time of the run (no wrapper process, no result file), and no
    # secret in any process's arguments; the detached guard and planner ended with the play
    # and left nothing in the temp dir
    assert procs.seen == {"async_wrapper": set(), "ansible_async": set(),
                          "secret in argv": set()}, procs.seen
    assert _task_result(run, "release the guard")["ended"] == {"guard": "ended", "plan": "ended"}
    for task in ("guard that deletes", "plan on the operator host"):
        assert not detach.running(_task_result(run, task)["pid"],
                                  GuardProgram if "guard" in task else PlanProgram)
    assert _detached_dirs() - dirs_before == set()
    rep = run.report
    assert rep["status"] == "succeeded" and rep["partitions"]["failed"] == 0
    assert rep["verified"] == {"files": files, "bytes": nbytes, "mismatches": 0}
    # the killed pod's partitions were finished by other pods
    for part in held:
        with open(os.path.join(str(lab.shared), run_id, "results", part + ".json")) as handle:
            result = json.load(handle)
        assert result["status"] == "done" and result["host"] != victim
    assert "worker on %s did not end cleanly" % victim in run.stdout
    # the pods exited 0 once the queue was drained: the Job was Complete before the play deleted it
    job_name = [o for o in lab.fake.created if o["kind"] == "Job"][0]["metadata"]["name"]
    assert lab.fake.events == [(job_name, "Complete")]
    assert "pods: 0 active, 3 succeeded, 1 failed" in run.stdout
    # the bucket copied back is the tree
    back = lab.tmp / "back"
    proc = subprocess.run([rclone_binary(), "--config", conf, "copy", "--links", dest, str(back)],
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert diff_trees(lab.src, back, with_dirs=False) == []
    # what the play sent is valid for the cluster's version, and nothing is left behind
    sent = {o["kind"]: o for o in lab.fake.created}
    assert set(sent) == {"Job", "Secret"}
    for obj in sent.values():
        _validate(obj, "1.31.2")
    assert lab.jobs_and_secrets() == []
    _wait(lambda: lab.fake.running_pods() == [], 30, "the pods to end")
    # an index was restarted with a new pod; every pod ran the command exactly as rendered
    pods = lab.fake.list("pods", NS) + lab.fake.list("deleted-pods", NS)
    assert len(pods) >= 4
    container = sent["Job"]["spec"]["template"]["spec"]["containers"][0]
    for pod in pods:
        fake = pod["_fake"]
        if "argv" not in fake:
            continue
        assert fake["argv"][:3] == container["command"]
        assert fake["argv"][fake["argv"].index("--worker") + 1] == pod["metadata"]["name"]
        assert fake["env"]["JOB_COMPLETION_INDEX"] == str(fake["index"])
        secret_mount = [m for m in fake["mounts"] if m["target"] == "/etc/datamover/rclone"]
        assert secret_mount and secret_mount[0]["readOnly"]
    # the secret is nowhere but in the Secret
    job_text = json.dumps(sent["Job"])
    assert SECRET_KEY not in job_text and "rclone.conf" in job_text
    assert SECRET_KEY not in run.stdout
    leaks = [p for p in glob.glob(str(lab.tmp / "runner" / "**"), recursive=True)
             + glob.glob(str(lab.shared / "**"), recursive=True)
             if os.path.isfile(p) and SECRET_KEY.encode() in open(p, "rb").read()]
    assert leaks == []
    for pod in pods:
        assert SECRET_KEY not in json.dumps(pod["_fake"].get("env", {})) + " ".join(
            pod["_fake"].get("argv", []))


def test_failed_job_ends_the_watch_at_once_and_is_deleted(lab):
    """The pods mount a PVC that is not the operator's shared dir: every worker exits 2 ("no
    run.json"), the podFailurePolicy fails the Job, and the watch ends on that condition with
    the pods' own reason (not after a timeout); the always section deletes the Job."""
    sample_tree(str(lab.src), files=50, big_files=0)
    started = time.time()
    run = run_playbook(lab.tmp, lab.vars("rsync", lab.dst, datamover_run_id="k8s-fail",
                                         datamover_kubernetes_shared_pvc="elsewhere",
                                         datamover_kubernetes_shared_subpath="",
                                         datamover_kubernetes_run_wait=1),
                       inventory=lab.inventory, playbook=PLAYBOOK)
    elapsed = time.time() - started
    assert run.rc != 0
    assert "PodFailurePolicy" in run.stdout, run.stdout[-4000:]
    assert "exit 2" in run.stdout and "no run.json" in run.stdout
    assert elapsed < 120  # startup_grace is 600 s: the Job's condition ended the watch
    assert lab.jobs_and_secrets() == []
    _wait(lambda: lab.fake.running_pods() == [], 30, "the pods to end")
    assert ("DELETE", "/apis/batch/v1/namespaces/%s/jobs/%s" % (
        NS, lab.fake.created[0]["metadata"]["name"])) in lab.fake.requests
    assert os.listdir(lab.dst) == []
    # datamover_keep_pods (given as -e would give it: a string) keeps the failed Job to debug
    kept = run_playbook(lab.tmp, lab.vars("rsync", lab.dst, datamover_run_id="k8s-keep",
                                          datamover_kubernetes_shared_pvc="elsewhere",
                                          datamover_kubernetes_shared_subpath="",
                                          datamover_kubernetes_run_wait=1,
                                          datamover_keep_pods="true",
                                          datamover_kubernetes_guard_grace=1),
                        inventory=lab.inventory, playbook=PLAYBOOK, name="keep")
    assert kept.rc != 0 and "PodFailurePolicy" in kept.stdout
    time.sleep(12)  # past the guard's grace (3 polls + 5 s): released, it must not delete
    jobs = lab.fake.list("jobs", NS)
    assert [j["metadata"]["labels"]["datamover.fleet/run-id"] for j in jobs] == ["k8s-keep"]
    assert jobs[0]["status"]["conditions"][-1]["type"] == "Failed"


def _start_playbook(lab, extravars, log, **popen):
    """ansible-playbook as an operator starts it (not through ansible-runner): to interrupt."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    varfile = lab.tmp / "vars.json"
    varfile.write_text(json.dumps(extravars))
    return subprocess.Popen([os.path.join(VENV_BIN, "ansible-playbook"), "-i", lab.inventory,
                             "-e", "@" + str(varfile), os.path.join(ROOT, PLAYBOOK)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, **popen)


def _wait_for_the_watch(lab, run_id):
    """Pods run, partitions are done, and the watch has polled (its heartbeat is newer than
    the guard's start): from now on the guard's grace is the short one."""
    _wait(lambda: len(lab.fake.running_pods()) == 2, 120, "the pods to run")
    done = lab.shared / run_id / "state" / "done"
    _wait(lambda: done.is_dir() and len(os.listdir(done)) >= 2, 120, "some partitions done")
    alive = lab.shared / run_id / "kubernetes" / "alive"
    created = alive.stat().st_mtime
    _wait(lambda: alive.stat().st_mtime > created, 60, "the watch's heartbeat")


def test_interrupted_play_is_cleaned_up_by_the_guard_then_resumed(lab):
    """Ctrl-C on ansible-playbook runs no always section: the guard deletes the Job and its
    pods once the watch's heartbeat stops. Re-running the play resumes the run (rsync)."""
    files, nbytes = sample_tree(str(lab.src), files=300, big_files=0)
    extra = dict(datamover_run_id="k8s-int", datamover_partition_files=10,
                 datamover_kubernetes_guard_grace=4, datamover_pods=2)
    log = open(lab.tmp / "first.log", "wb")
    proc = _start_playbook(lab, lab.vars("rsync", lab.dst, datamover_tool_options=["--bwlimit=40"],
                                         **extra), log)
    try:
        _wait_for_the_watch(lab, "k8s-int")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert lab.fake.list("jobs", NS), "the Job must still exist right after the interruption"
    _wait(lambda: lab.jobs_and_secrets() == [], 60, "the guard to delete the Job")  # grace 11 s
    _wait(lambda: lab.fake.running_pods() == [], 30, "the pods to end")
    # resume: a new Job (same name) finishes what is left
    second = run_playbook(lab.tmp, lab.vars("rsync", lab.dst, **extra),
                          inventory=lab.inventory, playbook=PLAYBOOK, name="second")
    assert second.rc == 0, second.stdout[-4000:]
    rep = second.report
    assert rep["status"] == "succeeded" and rep["files"] == files and rep["bytes"] == nbytes
    assert diff_trees(lab.src, lab.dst) == []
    assert lab.jobs_and_secrets() == []
    assert [o["kind"] for o in lab.fake.created] == ["Job", "Job"]
    for obj in lab.fake.created:
        _validate(obj, "1.31.2")


def test_killed_play_the_guard_deletes_the_job_and_the_secret(lab, s3):
    """kill -9 of the whole play (its process group: a lost controller, a killed container):
    the detached guard, in a session of its own, deletes the Job and the Secret once the
    watch's heartbeat stops, says so in the run's kubernetes/guard.log, and is gone."""
    sample_tree(str(lab.src), files=200, big_files=0)
    conf = s3.write_rclone_config(str(lab.tmp / "rclone.conf"))
    dirs_before = _detached_dirs()
    log = open(lab.tmp / "killed.log", "wb")
    proc = _start_playbook(lab, lab.vars(
        "rclone", "dmtest:dmtest/%s-killed" % lab.tmp.name, datamover_rclone_config=conf,
        datamover_run_id="k8s-kill", datamover_partition_files=10, datamover_pods=2,
        datamover_kubernetes_guard_grace=4, datamover_tool_options=["--tpslimit", "3"]),
        log, start_new_session=True)
    try:
        _wait_for_the_watch(lab, "k8s-kill")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert {o["kind"] for o in lab.jobs_and_secrets()} == {"Job", "Secret"}
    _wait(lambda: lab.jobs_and_secrets() == [], 60, "the guard to delete the Job and Secret")
    guard_log = lab.shared / "k8s-kill" / "kubernetes" / "guard.log"
    _wait(guard_log.exists, 30, "the guard's log")
    assert "the play was gone" in guard_log.read_text()
    assert "job/" in guard_log.read_text() and "secret/" in guard_log.read_text()
    _wait(lambda: _detached_dirs() - dirs_before == set(), 30, "the guard to end")
    _wait(lambda: lab.fake.running_pods() == [], 30, "the pods to end")


def test_failed_plan_fails_the_play_with_the_planners_message(lab):
    """The crawl fails on the operator host after the run was opened (a mirror without
    datamover_since): the detached planner's plan.failed fails the watch with its message;
    the always section deletes the Job and the play's end leaves no process behind."""
    sample_tree(str(lab.src), files=20, big_files=0)
    dirs_before = _detached_dirs()
    run = run_playbook(lab.tmp, lab.vars("rsync", lab.dst, datamover_run_id="k8s-planfail",
                                         datamover_mirror=True),
                       inventory=lab.inventory, playbook=PLAYBOOK)
    assert run.rc != 0
    assert "planning failed: datamover_mirror needs datamover_since" in run.stdout, \
        run.stdout[-4000:]
    assert lab.jobs_and_secrets() == []
    assert os.listdir(lab.dst) == []
    assert _task_result(run, "release the guard")["ended"] == {"guard": "ended", "plan": "ended"}
    assert _detached_dirs() - dirs_before == set()


def test_fake_runs_the_worker_module_with_the_image_python():
    """The fake's stand-in image runs `python3 -m ...worker_cli` as the Containerfile does."""
    image = collections_image(COLLECTIONS, VENV_BIN)
    proc = subprocess.run(["python3", "-m",
                           "ansible_collections.datamover.fleet.plugins.module_utils.work.worker_cli",
                           "--help"], env={k: image[k] for k in ("PATH", "PYTHONPATH")},
                          capture_output=True, text=True, check=False,
                          executable=shutil.which("python3", path=image["PATH"]))
    assert proc.returncode == 0 and "--shared-dir" in proc.stdout, proc.stderr
