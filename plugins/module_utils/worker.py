# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The worker loop: one per host (or pod), N slots pulling partitions from the shared queue.

It needs only the run directory: what to move and how is in run.json, the work in state/.
That keeps it the same under Ansible (async module), in a Kubernetes pod, or by hand.
A slot claims a partition, runs the tool (argv lists, output to logs/), verifies the
destination independently, retries with backoff, and settles the partition as done or
failed. A heartbeat thread keeps the slots' leases and this worker's record fresh; a lease
that cannot be refreshed was taken over, and its transfer is stopped.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import zlib

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_json,
    read_json,
)
from ansible_collections.datamover.fleet.plugins.module_utils.planning import (
    PlanError,
    crawl,
    open_run,
)
from ansible_collections.datamover.fleet.plugins.module_utils.runstate import RunState, make_token
from ansible_collections.datamover.fleet.plugins.module_utils.tools import make_tool
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import ToolError


class _Active:
    def __init__(self, lease):
        self.lease = lease
        self.proc = None
        self.lost = False


class Worker:
    def __init__(self, rundir, host, slots=2, retries=3, backoff=5.0, backoff_max=120.0,
                 lease_seconds=120.0, poll=1.0, binary=None, rclone_config=None,
                 plan_timeout=None, run_wait=0.0):
        self.rundir = rundir
        self.state = RunState(rundir)
        self.host = host or socket.gethostname()
        self.slots = max(1, int(slots))
        self.retries = max(0, int(retries))
        self.backoff, self.backoff_max = float(backoff), float(backoff_max)
        self.lease_seconds = float(lease_seconds)
        self.poll = float(poll)
        self.plan_timeout = plan_timeout
        # Workers start beside the host that creates the run: give it time to write run.json.
        deadline = time.time() + float(run_wait or 0)
        while not rundir.exists() and time.time() < deadline:
            time.sleep(0.1)
        self.meta = rundir.load()
        self.tool = make_tool(self.meta, binary=binary, config=rclone_config)
        self._lock = threading.Lock()
        self._active = {}
        self._stop = threading.Event()
        self._errors = []
        self.totals = {"parts_done": 0, "parts_failed": 0, "files": 0, "bytes": 0,
                       "attempts": 0, "requeued_stale": 0, "lost_leases": 0}
        self.started = time.time()
        # Hosts start scanning the queue at different places so they rarely race for one part.
        self._offset = zlib.crc32(self.host.encode()) % 997

    # --- bookkeeping ----------------------------------------------------------------------
    def _record(self, status, rc=None, error=None):
        with self._lock:
            totals = dict(self.totals)
        atomic_write_json(self.rundir.p("workers", _fname(self.host) + ".json"), dict(
            totals, host=self.host, hostname=socket.gethostname(), pid=os.getpid(),
            slots=self.slots, status=status, rc=rc, error=error, started=self.started,
            updated=time.time(), seconds=round(time.time() - self.started, 3)))

    def _heartbeat_loop(self):
        interval = max(0.5, min(self.lease_seconds / 4.0, 30.0))
        while not self._stop.wait(interval):
            with self._lock:
                active = list(self._active.values())
            for act in active:
                if act.lost or self.state.heartbeat(act.lease):
                    continue
                act.lost = True
                with self._lock:
                    self.totals["lost_leases"] += 1
                if act.proc is not None and act.proc.poll() is None:
                    act.proc.terminate()
            self._record("running")

    # --- main loop ------------------------------------------------------------------------
    def run(self):
        self._record("running")
        beat = threading.Thread(target=self._heartbeat_loop, name="dm-heartbeat", daemon=True)
        beat.start()
        threads = [threading.Thread(target=self._slot_guard, args=(i,), name="dm-slot-%d" % i)
                   for i in range(self.slots)]
        previous = signal.signal(signal.SIGTERM, self._on_sigterm) \
            if threading.current_thread() is threading.main_thread() else None
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            self._stop.set()
            beat.join()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if self._errors:
            self._record("crashed", rc=1, error="%s: %s" % (type(self._errors[0]).__name__,
                                                            self._errors[0]))
            raise self._errors[0]
        counts = self.state.counts()
        stopped = self.rundir.stop_requested()
        self._record("stopped" if stopped else "exited", rc=0)
        return dict(self.totals, host=self.host, counts=counts, stopped=stopped,
                    seconds=round(time.time() - self.started, 3))

    def _on_sigterm(self, signum, frame):
        del signum, frame
        self._stop.set()
        with self._lock:
            for act in self._active.values():
                if act.proc is not None and act.proc.poll() is None:
                    act.proc.terminate()

    def _slot_guard(self, slot):
        """An exception in one slot stops the whole worker and is raised by run()."""
        try:
            self._slot_loop(slot)
        except BaseException as exc:  # re-raised in the main thread
            with self._lock:
                self._errors.append(exc)
            self._on_sigterm(None, None)

    def _slot_loop(self, slot):
        waited = 0.0
        while not self._stop.is_set() and not self.rundir.stop_requested():
            lease = self.state.claim_next(make_token(self.host, slot), start=self._offset + slot)
            if lease is not None:
                self._process(lease)
                waited = 0.0
                continue
            if self.rundir.plan_complete():
                requeued = self.state.reap_stale(self.lease_seconds, local_host=self.host)
                if requeued:
                    with self._lock:
                        self.totals["requeued_stale"] += len(requeued)
                    continue
                counts = self.state.counts()
                if counts["todo"] == 0 and counts["claimed"] == 0:
                    return
            elif os.path.exists(self.rundir.p("plan.failed")):
                return  # planning failed: nothing more will come
            elif self.plan_timeout is not None and waited > self.plan_timeout:
                raise ToolError("no plan.json after %ds: did the partition step fail?" % waited)
            self._stop.wait(self.poll)
            waited += self.poll

    # --- one partition --------------------------------------------------------------------
    def _process(self, lease):
        act = _Active(lease)
        with self._lock:
            self._active[lease.part_id] = act
        workdir = self.rundir.p("tmp", "%06d.%s" % (lease.part_id, lease.token))
        os.makedirs(workdir, exist_ok=True)
        try:
            self._attempts(act, workdir)
        except Exception as exc:  # a bug or an I/O error must not strand the claim
            self._crashed(act, exc)
        finally:
            with self._lock:
                self._active.pop(lease.part_id, None)
            shutil.rmtree(workdir, ignore_errors=True)

    def _crashed(self, act, exc):
        import traceback
        rd, lease = self.rundir, act.lease
        previous = read_json(rd.result_path(lease.part_id)) or {}
        history = list(previous.get("attempts", []))
        history.append({"attempt": len(history) + 1, "host": self.host, "rc": None,
                        "error": "internal error: %s: %s" % (type(exc).__name__, exc),
                        "traceback": traceback.format_exc(), "seconds": 0, "log": None})
        atomic_write_json(rd.result_path(lease.part_id), {
            "part": lease.part_id, "status": "failed", "host": self.host, "token": lease.token,
            "attempts": history, "finished": time.time()})
        if self.state.fail(lease):
            with self._lock:
                self.totals["parts_failed"] += 1

    def _attempts(self, act, workdir):
        lease, rd = act.lease, self.rundir
        part = lease.part_id
        entries = list(rd.read_manifest(part))
        previous = read_json(rd.result_path(part)) or {}
        history = list(previous.get("attempts", []))
        list_path, skipped = self.tool.prepare(entries, workdir, rd.part_path(part, "list"))
        started = time.time()
        verification, status = None, "failed"
        for k in range(self.retries + 1):
            if k:
                if self._stop.wait(min(self.backoff * (2 ** (k - 1)), self.backoff_max)):
                    break
            if act.lost:
                return
            number = len(history) + 1
            log_path = rd.log_path(part, number)
            t0 = time.time()
            rc, error, verification = self._one_attempt(act, list_path, workdir, log_path,
                                                        retry=number > 1)
            with self._lock:
                self.totals["attempts"] += 1
            history.append({"attempt": number, "host": self.host, "rc": rc, "error": error,
                            "seconds": round(time.time() - t0, 3),
                            "log": os.path.relpath(log_path, rd.path)})
            if act.lost:
                return  # another worker owns it now; its result is the one that counts
            if error is None:
                status = "done"
                break
            if self._stop.is_set():
                break
        result = {
            "part": part, "status": status, "host": self.host, "token": lease.token,
            "files": sum(1 for e in entries if e[0] != "d"),
            "bytes": sum(e[1] for e in entries),
            "seconds": round(time.time() - started, 3), "finished": time.time(),
            "attempts": history, "skipped": skipped,
            "verified": verification.as_dict() if verification else None,
        }
        atomic_write_json(rd.result_path(part), result)
        if self._stop.is_set() and status != "done":
            self.state.release(lease)  # stopping: not a failure of the partition
            return
        settled = self.state.finish(lease) if status == "done" else self.state.fail(lease)
        if settled:
            with self._lock:
                if status == "done":
                    self.totals["parts_done"] += 1
                    self.totals["files"] += result["files"]
                    self.totals["bytes"] += result["bytes"]
                else:
                    self.totals["parts_failed"] += 1

    def _one_attempt(self, act, list_path, workdir, log_path, retry):
        """Run the tool, then verify. Returns (rc, error or None, verification)."""
        with open(log_path, "ab") as log:
            rc = 0
            for argv in self.tool.commands(list_path, workdir, retry=retry):
                log.write(("$ %s\n" % " ".join(_printable(a) for a in argv)).encode())
                log.flush()
                try:
                    act.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, cwd=workdir)
                except OSError as exc:
                    return None, "cannot run %s: %s" % (argv[0], exc), None
                rc = act.proc.wait()
                act.proc = None
                if act.lost:
                    return rc, "lease lost to another worker", None
                if rc != 0 and rc not in self.tool.soft_exit_codes:
                    return rc, "%s exited with code %d" % (self.tool.name, rc), None
            entries = list(self.rundir.read_manifest(act.lease.part_id))
            if self.meta.get("verify") == "none":
                return rc, None, None
            log.write(b"\n# verifying\n")
            log.flush()
            try:
                verification = self.tool.verify(entries, list_path, log)
            except (ToolError, OSError, ValueError) as exc:
                return rc, "verification could not run: %s" % exc, None
            if verification.mismatches:
                return rc, "verification: %d mismatches (first: %s)" % (
                    len(verification.mismatches), verification.mismatches[0]), verification
            log.write(("# verified %d files, %d bytes\n" % (verification.files,
                                                            verification.bytes)).encode())
            return rc, None, verification


def plan_and_work(rundir, host, plan_params, **worker_kwargs):
    """Create (or resume) the run, crawl it in a thread, and work on it meanwhile.

    One async task on the first host instead of a separate plan task: the run starts moving
    data as soon as the first partition is published, and the play saves a task.
    """
    meta, created, requeued = open_run(rundir, plan_params)
    outcome = {}

    def planner():
        try:
            outcome["plan"], outcome["published"] = crawl(rundir, meta, plan_params.get("threads"))
        except BaseException as exc:  # recorded in plan.failed for every worker; re-raised below
            outcome["error"] = exc

    thread = threading.Thread(target=planner, name="dm-plan", daemon=True)
    thread.start()
    try:
        result = Worker(rundir, host, **worker_kwargs).run()
    finally:
        thread.join()
    if "error" in outcome:
        raise PlanError("planning failed: %s" % outcome["error"])
    result.update(plan=outcome["plan"], created=created, requeued_failed=requeued)
    return result


def _fname(host):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in host) or "host"


def _printable(arg):
    return os.fsdecode(arg) if isinstance(arg, bytes) else arg
