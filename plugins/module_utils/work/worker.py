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

import collections
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import traceback

from ansible_collections.datamover.fleet.plugins.module_utils.errors import PlanError, ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import crawl, open_run
from ansible_collections.datamover.fleet.plugins.module_utils.run.records import (
    Attempt,
    PartResult,
    path_record,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import moves_data
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState, make_token
from ansible_collections.datamover.fleet.plugins.module_utils.tools import make_tool
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    DETERMINISTIC,
    SOURCE_CHANGED,
    TRANSIENT,
    Verification,
    audit_class,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.wakeup import QUEUE_CHANGED
from ansible_collections.datamover.fleet.plugins.module_utils.work.audit_extra import find_extra
from ansible_collections.datamover.fleet.plugins.module_utils.work.settings import DEFAULTS, budget_share
from ansible_collections.datamover.fleet.plugins.module_utils.work.survey import survey_partition
from ansible_collections.datamover.fleet.plugins.module_utils.work.source_guard import (
    SourceGone,
    SourceGuard,
    entry_dir,
    vanished_problem,
)

# How often a worker asks its running tools how far they got and updates its progress record.
PROGRESS_EVERY = 1.0


# A batch stops growing past this many bytes: per-process cost (a few ms) matters for small
# files only. 128 MiB holds 8 partitions of 2,000 small files (T1's are 9 MiB), while partitions
# of large files (the first ones of a checkpoint are 64 MiB, see partitioner.ByteCap) go to
# other slots and hosts instead of into one rsync that moves them one after another.
BATCH_BYTES = 128 << 20


class _Active:
    def __init__(self, lease):
        self.lease = lease
        self.proc = None
        self.lost = False
        # live progress: set while the tool runs, read by the progress thread
        self.tool_started = None
        self.moving = ()                # the jobs this attempt moves (a batch: all of them)
        self.log_path = None
        self.memo = {}
        self.base = (0, 0)              # files, bytes verified by earlier attempts
        self.progress = (0, 0)          # files, bytes moved and not yet settled
        self.totals = (0, 0)            # files, bytes of the whole partition


class Worker:
    """One host's (or pod's) worker: ``slots`` threads that claim partitions, run the tool on
    them, verify and settle each, until the queue of a complete plan is drained or a STOP is
    found. A heartbeat thread keeps its leases and worker record fresh; SIGTERM gives its
    claims back. Settings and their defaults: work/settings.py."""

    def __init__(self, rundir, host, slots=DEFAULTS["slots"], retries=DEFAULTS["retries"],
                 backoff=DEFAULTS["backoff"], backoff_max=DEFAULTS["backoff_max"],
                 lease_seconds=DEFAULTS["lease_seconds"], poll=DEFAULTS["poll"], binary=None,
                 rclone_config=None, run_wait=0.0, batch=DEFAULTS["batch"],
                 max_requests_per_second=DEFAULTS["max_requests_per_second"]):
        self.rundir = rundir
        self.state = RunState(rundir)
        self.host = host or socket.gethostname()
        self.slots = max(1, int(slots))
        self.retries = max(0, int(retries))
        self.backoff, self.backoff_max = float(backoff), float(backoff_max)
        self.lease_seconds = float(lease_seconds)
        self.poll = float(poll)
        self.batch = max(1, int(batch or 1))
        # Workers start beside the host that creates the run: give it time to write run.json.
        deadline = time.time() + float(run_wait or 0)
        while not rundir.exists() and time.time() < deadline:
            time.sleep(0.1)
        self.meta = rundir.load()
        # credentials reach the tool through its environment, never its arguments
        os.environ.update(rundir.wait_secrets(self.meta.get("secrets") or 0, run_wait))
        self.tool = make_tool(self.meta, binary=binary, config=rclone_config)
        self.guard = SourceGuard(rundir, self.meta["source"])
        # datamover_audit: compare each partition with the destination, move nothing, write
        # nothing there (no transfer, no retry, no recovery, no cleanup).
        self.audit = bool(self.meta.get("audit"))
        # datamover_plan_only: survey each partition (work/survey.py), move nothing.
        self.plan_only = bool(self.meta.get("plan_only"))
        self.tool.read_only = not moves_data(self.meta)
        # This host's share of the fleet's request budget, split evenly over every tool
        # process it may run at once, so that the fleet never sends more than the budget.
        self.max_requests_per_second = budget_share(max_requests_per_second, 1)
        self.per_process_requests = budget_share(self.max_requests_per_second,
                                                 self.slots * self.tool.PROCESSES_PER_SLOT)
        self.tool.limit_requests(self.per_process_requests)
        self._lock = threading.Lock()
        self._active = {}
        self._stop = threading.Event()
        self._progress_wake = threading.Event()
        self._errors = []
        self.totals = {"parts_done": 0, "parts_failed": 0, "files": 0, "bytes": 0,
                       "attempts": 0, "requeued_stale": 0, "lost_leases": 0, "recovered": 0}
        self.started = time.time()

    # --- bookkeeping ----------------------------------------------------------------------
    def _record(self, status, rc=None, error=None):
        with self._lock:
            totals = dict(self.totals)
        now = time.time()
        self.rundir.write_worker(self.host, dict(
            totals, host=self.host, hostname=socket.gethostname(), pid=os.getpid(),
            slots=self.slots, status=status, rc=rc, error=error, started=self.started,
            max_requests_per_second=self.max_requests_per_second or None,
            updated=now, seconds=round(now - self.started, 3)))

    def _progress_loop(self):
        """Once a second: ask the tool how far each long-running transfer has got, and write
        this worker's progress record when it changed. Transfers shorter than a second are
        never asked: their progress is their settling."""
        last, asked = None, 0.0
        while not self._stop.is_set():
            # a settled partition wakes it early: its files leave "in flight" for the totals
            self._progress_wake.wait(PROGRESS_EVERY)
            self._progress_wake.clear()
            now = time.time()
            with self._lock:
                active = list(self._active.values()) if now - asked >= PROGRESS_EVERY else []
            if active:
                asked = now
            for act in active:
                started = act.tool_started
                if started is None or now - started < PROGRESS_EVERY:
                    continue
                if "entries" not in act.memo:
                    act.memo["entries"] = [e for job in act.moving for e in job.pending]
                try:
                    got = self.tool.progress(act.memo["entries"], act.log_path, act.memo)
                except (OSError, ValueError):
                    got = None
                if got is not None and act.tool_started == started:
                    with self._lock:
                        act.progress = (act.base[0] + got[0], act.base[1] + got[1])
            record = self._progress_record()
            if record != last:
                self.rundir.write_progress(self.host, dict(record, updated=now))
                last = record
                self._stop.wait(0.2)  # at most 5 writes a second, however fast parts settle

    def _progress_record(self):
        with self._lock:
            inflight = [(a.lease.part_id,) + a.progress + a.totals
                        for a in self._active.values()]
            return {"host": self.host, "files": self.totals["files"],
                    "bytes": self.totals["bytes"], "parts_done": self.totals["parts_done"],
                    "inflight_files": sum(i[1] for i in inflight),
                    "inflight_bytes": sum(i[2] for i in inflight),
                    "inflight": [dict(zip(("part", "files", "bytes", "files_total",
                                           "bytes_total"), i)) for i in sorted(inflight)]}

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
        progress = threading.Thread(target=self._progress_loop, name="dm-progress", daemon=True)
        progress.start()
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
            self._progress_wake.set()
            beat.join()
            progress.join()
            self.rundir.write_progress(self.host, dict(self._progress_record(),
                                                       updated=time.time()))
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if self._errors:
            self._record("crashed", rc=1, error="%s: %s" % (type(self._errors[0]).__name__,
                                                            self._errors[0]))
            raise self._errors[0]
        counts = self.state.counts()
        stopped = self.rundir.stop_requested()
        if not stopped and self.rundir.plan_complete() and self.state.unsettled() == (0, 0):
            if moves_data(self.meta):
                self.tool.cleanup()  # the run is over: nothing of ours stays at the destination
            elif self.audit and self.meta.get("audit_extra"):
                self._find_extra()
        self._record("stopped" if stopped else "exited", rc=0)
        return dict(self.totals, host=self.host, counts=counts, stopped=stopped,
                    seconds=round(time.time() - self.started, 3))

    def _on_sigterm(self, signum, frame):
        del signum, frame
        self._stop.set()
        QUEUE_CHANGED.notify()
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
        # Idle slots look again soon, then less often: the first partitions of a live plan are
        # published milliseconds after the slots start, the last ones may take a long crawl.
        idle = 0.02
        behind = None  # the previous partition, being verified while this slot moves on
        try:
            while not self._stop.is_set() and not self.rundir.stop_requested():
                seen = QUEUE_CHANGED.generation()
                lease = self.state.claim_next(make_token(self.host, slot))
                if lease is not None:
                    behind = self._process(lease, behind, slot)
                    idle = 0.02
                    continue
                if behind is not None:
                    behind.join()  # its retries may give work back; and it settles the part
                    behind = None
                    continue
                if self.rundir.plan_complete():
                    requeued = self.state.reap_stale(self.lease_seconds, local_host=self.host)
                    if requeued:
                        with self._lock:
                            self.totals["requeued_stale"] += len(requeued)
                        continue
                    if self.state.unsettled() == (0, 0):
                        return
                elif self.rundir.plan_failed() is not None:
                    return  # planning failed: nothing more will come
                if QUEUE_CHANGED.wait(seen, min(idle, self.poll)):
                    idle = 0.02
                else:
                    idle *= 2
        finally:
            if behind is not None:
                behind.join()

    def _find_extra(self):
        """datamover_audit_extra, once the audit is settled (one worker does it)."""
        try:
            find_extra(self.rundir, self.tool)
        except (ToolError, OSError) as exc:
            self.rundir.write_audit_extra({"checked": False, "error": str(exc)})

    # --- one partition --------------------------------------------------------------------
    def _process(self, lease, behind, slot):
        """Move a partition (and, while the queue is deep, the next ones in the same tool
        process), then hand their verification to a thread and return it.

        The slot's next transfer starts while these are verified (a listing of the object
        store costs round trips; lstat of 2,048 files costs a core's milliseconds): one
        transfer per slot at a time, and no idle gap between them. At most one batch per
        slot is behind: the previous one is joined before this one is handed over.
        """
        jobs = [job for job in [self._open(lease)] if job is not None]
        if self.plan_only:
            for job in jobs:
                self._guard_survey(job)
            return behind
        while jobs and self._batch_grows(jobs):
            more = self.state.claim_next(make_token(self.host, slot))
            if more is None:
                break
            job = self._open(more)
            if job is not None:
                jobs.append(job)
        firsts = []
        if jobs:
            try:
                firsts = self._transfer_batch(jobs)
            except Exception as exc:  # a bug or an I/O error must not strand the claims
                for job in jobs:
                    self._crashed(job.act, exc)
                    self._release_active(job.act, job)
                firsts = []
        if behind is not None:
            behind.join()
        if not firsts:
            return None
        thread = threading.Thread(target=self._finish_batch, args=(jobs, firsts),
                                  name="dm-verify-%06d" % jobs[0].act.lease.part_id)
        thread.start()
        return thread

    def _open(self, lease):
        """Register a claimed partition and prepare its list; None when that failed."""
        act = _Active(lease)
        with self._lock:
            self._active[lease.part_id] = act
        job = None
        try:
            return self._begin(act)
        except SourceGone as exc:
            self._source_gone(act, exc)
            self._release_active(act, job)
            return None
        except Exception as exc:  # settled as failed, with the traceback in its result
            self._crashed(act, exc)
            self._release_active(act, job)
            return None

    def _batch_grows(self, jobs):
        """Take one more partition into this transfer? Each tool process costs a start-up
        and a pipeline that fills and drains (measured: 49 rsyncs of 2,048 small files take
        1.9x one rsync of them all), so while the queue is deep a slot moves several
        partitions at once. It stops well before the queue runs low, so the run's tail
        stays in single partitions spread over every slot of the fleet."""
        if len(jobs) >= self.batch or self._stop.is_set():
            return False
        if sum(j.bytes for j in jobs) >= BATCH_BYTES:
            return False
        fleet_slots = self.slots * max(1, self.rundir.worker_count())
        if fleet_slots == 1:
            return True  # no other slot to share the tail with: take what is published
        ahead = jobs[-1].act.lease.part_id + 2 * (len(jobs) + 1) * fleet_slots
        return self.rundir.has_manifest(ahead)

    def _finish_batch(self, jobs, firsts):
        for job, first in zip(jobs, firsts):
            self._guard_finish(job, first)
        if any(job.whole for job in jobs):
            self._note_not_in_plan(jobs, firsts[0])

    def _note_not_in_plan(self, jobs, first):
        """A directory moved whole (rsync -r) carries what was added to it after the crawl.
        The tool's own count of what it met, less what the plan holds and still had, is that
        many files: noted on the lead partition's result. Once per transfer, from its log."""
        _number, log_path, _t0, rc, error = first
        if rc is None or error is not None or any(
                job.act.lost or job.first_gone is None for job in jobs):
            return
        carried = self.tool.carried(log_path)
        if carried is None:
            return
        planned = sum(1 for job in jobs for e in job.entries if e[0] != "d")
        extra = carried - (planned - sum(job.first_gone for job in jobs))
        if extra <= 0:
            return
        result = self.rundir.read_result(jobs[0].act.lease.part_id)
        if result is not None and result.token == jobs[0].act.lease.token:
            result.not_in_plan = extra
            self.rundir.write_result(result)

    def _guard_finish(self, job, first):
        try:
            try:
                self._finish(job, first)
            except SourceGone as exc:
                self._source_gone(job.act, exc, job, log=first[1])
            except Exception as exc:  # as in _process: settle it as failed, keep going
                self._crashed(job.act, exc)
            finally:
                self._release_active(job.act, job)
        except BaseException as exc:  # re-raised in the main thread
            with self._lock:
                self._errors.append(exc)
            self._on_sigterm(None, None)

    def _release_active(self, act, job):
        with self._lock:
            self._active.pop(act.lease.part_id, None)
        if job is not None:
            shutil.rmtree(job.workdir, ignore_errors=True)

    def _previous(self, part):
        previous = self.rundir.read_result(part)
        return list(previous.attempts) if previous else []

    def _crashed(self, act, exc):
        lease = act.lease
        history = self._previous(lease.part_id)
        history.append(Attempt(attempt=len(history) + 1, host=self.host,
                               error="internal error: %s: %s" % (type(exc).__name__, exc),
                               traceback=traceback.format_exc()))
        self.rundir.write_result(PartResult(part=lease.part_id, status="failed", host=self.host,
                                            token=lease.token, attempts=history))
        if self.state.fail(lease):
            with self._lock:
                self.totals["parts_failed"] += 1

    def _source_gone(self, act, exc, job=None, log=None):
        """The source root is gone: fail this partition with the cause, stop every worker
        (STOP) and this one's transfers at once. Nothing more can be moved from a source that
        is not there, and what would follow is every file counted as vanished."""
        message = str(exc)
        if not self.rundir.stop_requested():
            self.rundir.request_stop(message)
        self._on_sigterm(None, None)
        lease = act.lease
        history = list(job.history) if job is not None else self._previous(lease.part_id)
        history.append(Attempt(attempt=len(history) + 1, host=self.host, error=message,
                               failure_class=DETERMINISTIC,
                               log=self.rundir.relative(log) if log else None))
        self.rundir.write_result(PartResult(
            part=lease.part_id, status="failed", host=self.host, token=lease.token,
            attempts=history, not_copied=job.not_copied("failed") if job is not None else []))
        if self.state.fail(lease):
            with self._lock:
                self.totals["parts_failed"] += 1

    def _begin(self, act):
        lease, rd = act.lease, self.rundir
        workdir = rd.workdir(lease.part_id, lease.token)
        os.makedirs(workdir, mode=0o700, exist_ok=True)  # scratch lists: this worker's only
        entries, whole_dirs, trees = rd.read_partition(lease.part_id)
        job = _Job(act, workdir, entries, self._previous(lease.part_id))
        job.idents = rd.read_dir_identities(lease.part_id)
        # Before the transfer: the root is still the source, and no directory this partition
        # moves from became a symlink or another directory since the crawl (source_guard.py).
        changed = self.guard.changed_dirs(entries, job.idents)
        if changed:
            job.leave_out(changed)
            whole_dirs = [d for d in whole_dirs if not _under_any(d, changed)]
            trees = [t for t in trees if not _under_any(t, changed)]
        job.whole = bool(whole_dirs)
        job.trees = trees
        if rd.first_log_exists(lease.part_id) and moves_data(self.meta):
            # An earlier attempt began here, maybe on a host that died mid-transfer.
            recovered = self.tool.recover(entries)
            if recovered:
                with self._lock:
                    self.totals["recovered"] += recovered
        job.list_path, job.skipped = self.tool.prepare(job.pending, workdir, whole_dirs, trees)
        job.bytes = sum(e[1] for e in entries)
        act.totals = (sum(1 for e in entries if e[0] != "d"), job.bytes)  # for the progress
        return job

    def _guard_survey(self, job):
        try:
            self._survey(job)
        except SourceGone as exc:
            self._source_gone(job.act, exc, job)
        except Exception as exc:  # as in _process: settle it as failed, keep going
            self._crashed(job.act, exc)
        finally:
            self._release_active(job.act, job)

    def _survey(self, job):
        """datamover_plan_only: what the partition holds instead of moving it; settled done."""
        t0 = time.time()
        job.survey = survey_partition(self.meta["source"], job.pending, job.trees, self.tool,
                                      getattr(self.tool, "layout", None),
                                      self.meta.get("symlinks") or "links")
        changed = job.survey["changed"]
        for entry, why in job.take_left_out():
            changed[0] += 1
            changed[1].append("%s: %s" % (os.fsdecode(entry[3]), why))
        self.guard.check_root()  # a source gone under the survey fails it, as a transfer
        job.history.append(Attempt(attempt=len(job.history) + 1, host=self.host, rc=0,
                                   seconds=round(time.time() - t0, 3), files=len(job.pending)))
        job.pending = []  # surveyed: nothing is left to move or to count as not copied
        self._settle(job, "done")

    def _transfer(self, job):
        """One attempt at moving the partition. Returns (number, log path, start, rc, error).
        A retry (after a failed verification) may run beside the slot's next transfer."""
        return self._transfer_batch([job])[0]

    def _transfer_batch(self, jobs):
        """One attempt at moving partitions in one tool process: an attempt tuple per job.
        The tool's output goes to the first partition's attempt log; the others' logs say
        where it is (and mark that an attempt began, for recover())."""
        numbers = [len(job.history) + 1 for job in jobs]
        logs = [self.rundir.log_path(job.act.lease.part_id, n) for job, n in zip(jobs, numbers)]
        lead = jobs[0]
        list_path = lead.list_path
        if len(jobs) > 1:
            list_path = self.tool.combine([job.list_path for job in jobs], lead.workdir)
            note = ("# moved by one %s with partitions %s: its output is in %s\n" % (
                self.tool.name, " ".join("%06d" % j.act.lease.part_id for j in jobs),
                os.path.basename(logs[0]))).encode()
            for log_path in logs[1:]:
                with self.rundir.open_log(log_path) as log:
                    log.write(note)
        # Live progress: the tool's count covers the whole batch, so the lead act carries it
        # while the tool runs; afterwards each partition counts as moved until it settles.
        act = lead.act
        act.moving = jobs  # flattened by the progress thread, only if the tool runs long
        act.log_path, act.memo = logs[0], {}
        act.base = (sum(j.tally.files for j in jobs), sum(j.tally.bytes for j in jobs))
        t0 = time.time()
        if self.audit:
            rc, error = self._audit_note(logs)
        else:
            rc, error = self._run_tool([job.act for job in jobs], list_path, lead.workdir,
                                       logs[0], retry=max(numbers) > 1)
        if error is None:
            with self._lock:
                for job in jobs:
                    job.act.progress = job.act.totals
        return [(n, log_path, t0, rc, error) for n, log_path in zip(numbers, logs)]

    def _audit_note(self, logs):
        """An audit's "attempt": nothing moves; the verification that follows is the audit."""
        for log_path in logs:
            with self.rundir.open_log(log_path) as log:
                log.write(b"# audit: nothing transferred; the destination is compared with "
                          b"the partition\n")
        return 0, None

    def _finish(self, job, first):
        """Verify the first attempt; retry with backoff only the files that failed, and only
        while a retry can help; settle the partition."""
        act = job.act
        status, attempt = "failed", first
        for k in range(1, self.retries + 2):
            if k > 1:
                if self._stop.wait(min(self.backoff * (2 ** (k - 2)), self.backoff_max)):
                    break
                if act.lost:
                    return
                # A retry moves what failed verification, not the whole partition again.
                job.list_path, _skipped = self.tool.prepare(job.pending, job.workdir)
                attempt = self._transfer(job)
            number, log_path, t0, rc, error = attempt
            moved = len(job.pending)
            if rc is not None and not act.lost and not self._stop.is_set():
                error = self._verify(job, log_path, number, error)
            with self._lock:
                self.totals["attempts"] += 1
            failure_class = None
            if error is not None:
                failure_class = TRANSIENT if job.pending else DETERMINISTIC
            job.history.append(Attempt(attempt=number, host=self.host, rc=rc, error=error,
                                       seconds=round(time.time() - t0, 3),
                                       log=self.rundir.relative(log_path), files=moved,
                                       failure_class=failure_class))
            if act.lost:
                return  # another worker owns it now; its result is the one that counts
            if error is None:
                status = "done"
                break
            if self._stop.is_set() or failure_class == DETERMINISTIC or self.audit:
                break  # no retry can change a deterministic failure (or an audit's finding)
        if status == "done":
            status = self._vanished_check(job)
        self._settle(job, status)

    def _vanished_check(self, job):
        """A partition that lost more than a share of its files fails, unless tolerated."""
        problem = vanished_problem(len(job.tally.vanished),
                                   sum(1 for e in job.entries if e[0] != "d"),
                                   "vanished" in (self.meta.get("tolerate") or []))
        if problem is None:
            return "done"
        job.history[-1].error = problem
        job.history[-1].failure_class = DETERMINISTIC
        return "failed"

    def _settle(self, job, status):
        lease, entries = job.act.lease, job.entries
        # A failed partition always has one: what never verified is counted as not copied.
        verification = job.outcome() if job.verified or status != "done" else None
        result = PartResult(
            part=lease.part_id, status=status, host=self.host, token=lease.token,
            attempts=job.history, files=sum(1 for e in entries if e[0] != "d"),
            bytes=sum(e[1] for e in entries), seconds=round(time.time() - job.started, 3),
            skipped=job.skipped, verified=verification.as_dict() if verification else None,
            not_copied=job.not_copied(status), survey=job.survey)
        self.rundir.write_result(result)
        if self._stop.is_set() and status != "done":
            self.state.release(lease)  # stopping: not a failure of the partition
            return
        settled = self.state.finish(lease) if status == "done" else self.state.fail(lease)
        with self._lock:
            job.act.progress = (0, 0)  # from now on in the totals, or not at all
            if settled:
                if status == "done":
                    self.totals["parts_done"] += 1
                    self.totals["files"] += result.files
                    self.totals["bytes"] += result.bytes
                else:
                    self.totals["parts_failed"] += 1
        self._progress_wake.set()

    def _run_tool(self, acts, list_path, workdir, log_path, retry):
        """Run the tool's commands for one attempt. Returns (rc, error or None)."""
        with self.rundir.open_log(log_path) as log:
            rc = 0
            for argv in self.tool.commands(list_path, workdir, retry=retry):
                log.write(("$ %s\n" % " ".join(_printable(a) for a in self.tool.describe(argv)))
                          .encode())
                log.flush()
                # Under the lock that SIGTERM takes: a tool started after the stop was asked
                # for would otherwise run to its end unseen.
                with self._lock:
                    if self._stop.is_set():
                        return None, "stopped before %s started" % self.tool.name
                    try:
                        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, cwd=workdir)
                    except OSError as exc:
                        return None, "cannot run %s: %s" % (argv[0], exc)
                    for act in acts:
                        act.proc = proc
                acts[0].tool_started = time.time()  # the lead act speaks for the batch
                rc = proc.wait()
                acts[0].tool_started = None
                for act in acts:
                    act.proc = None
                if any(act.lost for act in acts):
                    return rc, "lease lost to another worker"
                if rc != 0 and rc not in self.tool.soft_exit_codes:
                    return rc, "%s exited with code %d" % (self.tool.name, rc)
        return rc, None

    def _verify(self, job, log_path, number, error):
        """Verify what this attempt moved (job.pending), after a clean run or a failed one (to
        learn which files a retry must move). Returns the attempt's error or None; leaves in
        job.pending what a retry may still fix."""
        if self.meta.get("verify") == "none":
            left_out = job.take_left_out()
            if not left_out:
                return error
            verification = Verification()
            _fail_changed(verification, left_out)
            job.settle(verification, number)
            return error or _verification_error(verification)
        with self.rundir.open_log(log_path) as log:
            log.write(b"\n# verifying\n")
            log.flush()
            # The root is still the source, and no directory of this partition changed under
            # the transfer (SourceGone goes up to the worker): the files of one that did are
            # not verified, and what arrived of them is removed.
            entries, swapped = self._split_changed(job)
            try:
                verification = self.tool.verify(entries, job.list_path, log)
            except (ToolError, OSError, ValueError) as exc:
                return error or "verification could not run: %s" % exc
            if verification.vanished:
                self.guard.check_root()  # a root gone during the listing: not vanished files
            _fail_changed(verification, job.take_left_out() + self._undo(swapped, job, log))
            if error is not None and not verification.failed:
                if not (verification.changed or verification.vanished):
                    return error  # the tool failed yet nothing is missing: try it all again
                # the source changed under the tool (rclone fails a file that grows or goes
                # away while it reads it): that explains the failure, everything else is there
                log.write(("# %s: explained by %d files changed and %d vanished in the source "
                           "since the crawl (an incremental pass moves them)\n" % (
                               error, len(verification.changed),
                               len(verification.vanished))).encode())
                error = None
            if self.audit:
                verification.failed = [(e, why, audit_class(why, cls))
                                       for e, why, cls in verification.failed]
            job.settle(verification, number)
            if verification.failed and self.audit:
                return "audit: %d differences (%s); first: %s: %s" % (
                    len(verification.failed), ", ".join("%d %s" % (n, c) for c, n in sorted(
                        collections.Counter(f[2] for f in verification.failed).items())),
                    verification.failed[0][0][3].decode("utf-8", "backslashreplace"),
                    verification.failed[0][1])
            if verification.failed:
                return error or _verification_error(verification)
            log.write(("# verified %d files, %d bytes\n" % (verification.files,
                                                            verification.bytes)).encode())
        return error

    def _split_changed(self, job):
        """(entries to verify, [(entry, why)] of directories changed since the crawl)."""
        changed = self.guard.changed_dirs(job.pending, job.idents)
        if not changed:
            return job.pending, []
        keep, swapped = [], []
        for entry in job.pending:
            why = changed.get(entry_dir(entry))
            if why is None:
                keep.append(entry)
            else:
                swapped.append((entry, why))
        return keep, swapped

    def _undo(self, swapped, job, log):
        """Remove what the transfer wrote of ``swapped`` entries: through a directory swapped
        for a symlink, it is content from outside the source. Returns ``swapped``, each reason
        saying what became of that content."""
        if not swapped:
            return []
        try:
            removed = self.tool.remove_copies([e for e, _why in swapped], job.workdir, log)
            note = "; what arrived of them was removed from the destination (%d)" % removed
        except (ToolError, OSError) as exc:
            note = ("; removing what arrived of them from the destination FAILED (%s): check "
                    "and remove it by hand" % exc)
        log.write(("# %d entries of directories changed since the crawl: not verified%s\n"
                   % (len(swapped), note)).encode())
        return [(entry, why + note) for entry, why in swapped]


def _fail_changed(verification, items):
    """Files of directories that changed since the crawl fail the partition: not retried
    (the plan is fixed), and never tolerated (content from outside the source)."""
    for entry, why in items:
        if entry[0] != "d":
            verification.fail(entry, why, DETERMINISTIC)


def _verification_error(verification):
    retry = sum(1 for f in verification.failed if f[2] == TRANSIENT)
    first = verification.failed[0]
    return ("verification: %d files not at the destination (%d may pass on a retry, %d cannot: "
            "%s); first: %s: %s" % (
                len(verification.failed), retry, len(verification.failed) - retry,
                "retrying those" if retry else "not retried",
                first[0][3].decode("utf-8", "backslashreplace"), first[1]))


def _under_any(rel, dirs):
    """Is directory ``rel`` one of ``dirs`` or under one of them?"""
    return any(rel == d or rel.startswith(d + b"/") or not d for d in dirs)


class _Job:
    """One claimed partition on its way through a slot.

    ``pending`` is what the next attempt must move (all entries, then only what failed
    verification); ``failures`` what no retry fixed, each with the attempt that saw it last."""

    def __init__(self, act, workdir, entries, history):
        self.act, self.workdir, self.entries, self.history = act, workdir, entries, history
        self.list_path, self.skipped = None, []
        self.bytes = 0
        self.started = time.time()
        self.pending = list(entries)
        self.verified = False
        self.tally = Verification()
        self.failures = []        # [(entry, reason, class, attempt)]
        self.last_reasons = {}    # pending entry -> (reason, attempt) of its last failure
        self.notes = []           # [(relpath, reason, class, attempt)] vanished, changed, unrepresentable
        self.whole = False        # it holds directories the tool walks whole
        self.first_gone = None    # files of the first verification that had left the source
        self.idents = {}          # rundir.read_dir_identities of the partition
        self.left_out = []        # [(entry, why)] not moved: their directory changed
        self.trees = []           # the subtrees the partition holds whole (T records)
        self.survey = None        # datamover_plan_only: survey.survey_partition's result

    def leave_out(self, changed):
        """Before the transfer: entries of the directories in ``changed`` ({dir: why}) are not
        moved; the first verification fails them."""
        keep = []
        for entry in self.pending:
            why = changed.get(entry_dir(entry))
            if why is None:
                keep.append(entry)
            else:
                self.left_out.append((entry, why))
        self.pending = keep

    def take_left_out(self):
        out, self.left_out = self.left_out, []
        return out

    def settle(self, verification, number):
        """Take in a verification of ``pending``: what it found is settled, except the
        transient failures, which stay pending for a retry."""
        if not self.verified:
            gone = {os.fsencode(t) for t in verification.vanished}
            self.first_gone = sum(1 for e in self.entries if e[0] != "d" and e[3] in gone) \
                if gone else 0
        self.verified = True
        self.tally.files += verification.files
        self.tally.bytes += verification.bytes
        self.tally.content_checked += verification.content_checked
        self.tally.content_fallback += verification.content_fallback
        self.tally.vanished += verification.vanished
        self.tally.unrepresentable += verification.unrepresentable
        self.tally.changed += verification.changed
        for text in verification.vanished:
            self.notes.append((os.fsencode(text), "vanished from the source during the run",
                               None, number))
        for text, why in verification.changed:
            self.notes.append((os.fsencode(text), why, SOURCE_CHANGED, number))
        for text, why in verification.unrepresentable:
            self.notes.append((os.fsencode(text), why, DETERMINISTIC, number))
        self.pending = []
        for entry, reason, cls in verification.failed:
            if cls == TRANSIENT:
                self.pending.append(entry)
                self.last_reasons[entry] = (reason, number)
            else:
                self.failures.append((entry, reason, cls, number))

    def outcome(self):
        """The partition's verification over all its attempts."""
        out = Verification(files=self.tally.files, bytes=self.tally.bytes,
                           content_checked=self.tally.content_checked,
                           content_fallback=self.tally.content_fallback,
                           vanished=list(self.tally.vanished),
                           changed=list(self.tally.changed),
                           unrepresentable=list(self.tally.unrepresentable))
        for entry, reason, cls, _number in self._unsettled():
            out.fail(entry, reason, cls)
        return out

    def _unsettled(self):
        out = list(self.failures)
        last = self.history[-1] if self.history else None
        skipped = {os.fsencode(s[0]) for s in self.skipped}
        for entry in self.pending:
            if entry[0] == "d" or entry[3] in skipped:
                continue  # directories are not files; a policy skip is listed as such
            reason, number = self.last_reasons.get(entry, (None, None))
            if reason is None:
                reason = "not verified: %s" % (last.error if last else "no attempt")
                number = last.attempt if last else None
            out.append((entry, reason, TRANSIENT, number))
        return out

    def not_copied(self, status):
        """path_record()s of every entry that is not at the destination."""
        recs = [path_record(os.fsencode(p), why, None, None) for p, why in self.skipped
                if why.startswith("symlink")]
        recs += [path_record(rel, why, cls, n) for rel, why, cls, n in self.notes]
        if status != "done" or self.failures or self.pending:
            recs += [path_record(e[3], why, cls, n) for e, why, cls, n in self._unsettled()]
        return recs


def plan_and_work(rundir, host, plan_params, opened=None, **worker_kwargs):
    """Create (or resume) the run, crawl it in a thread, and work on it meanwhile.

    The first host's worker plans too, instead of a separate plan task: the run starts moving
    data as soon as the first partition is published, and the play saves a task. ``opened``
    is open_run's (meta, created, requeued) when the caller already opened the run.
    """
    meta, created, requeued = opened or open_run(rundir, plan_params,
                                                 binary=worker_kwargs.get("binary"))
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


def _printable(arg):
    return os.fsdecode(arg) if isinstance(arg, bytes) else arg
