# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a worker Job as the API returns it: has it ended, and why did its pods fail.

kubernetes.core.k8s with ``wait_condition: Complete`` waits out its whole timeout when the Job
fails instead; the watch asks ``job_verdict`` at every poll and ends at once on either.
"""
from __future__ import annotations

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
# Waiting reasons that will not clear up by themselves (the pod would stay Pending forever).
STUCK_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                 "CreateContainerError", "CrashLoopBackOff")


def _true(cond):
    return str(cond.get("status")) == "True"


def job_verdict(job):
    """('complete' | 'failed' | None, reason). FailureTarget / SuccessCriteriaMet (1.31+) are
    set as soon as the outcome is decided, before the pods are gone: they count already."""
    for cond in (job or {}).get("status", {}).get("conditions") or []:
        if not _true(cond):
            continue
        kind = cond.get("type")
        if kind in ("Failed", "FailureTarget"):
            reason = cond.get("reason") or "Failed"
            msg = cond.get("message")
            return "failed", "%s: %s" % (reason, msg) if msg else reason
        if kind in ("Complete", "SuccessCriteriaMet"):
            return "complete", cond.get("reason") or "Complete"
    return None, None


def job_counts(job):
    st = (job or {}).get("status") or {}
    return {k: int(st.get(k) or 0) for k in ("active", "ready", "succeeded", "failed")}


def _pod_head(pod):
    meta = pod.get("metadata") or {}
    index = (meta.get("annotations") or {}).get(INDEX_ANNOTATION)
    return "pod %s%s" % (meta.get("name"), " (index %s)" % index if index is not None else "")


def pod_reasons(pods):
    """One line per pod that failed or is stuck, with the container's own last words."""
    out, stopped = [], []
    for pod in pods or []:
        status = pod.get("status") or {}
        for cs in status.get("containerStatuses") or []:
            state = cs.get("state") or {}
            term = state.get("terminated")
            wait = state.get("waiting")
            if term and int(term.get("exitCode") or 0) == 143:
                stopped.append(_pod_head(pod))  # SIGTERM: the Job ended or the pod was deleted
            elif term and int(term.get("exitCode") or 0) != 0:
                msg = _last_line(term.get("message"))
                out.append("%s: exit %s (%s)%s" % (_pod_head(pod), term.get("exitCode"),
                                                   term.get("reason") or "Error",
                                                   ": " + msg[-400:] if msg else ""))
            elif wait and wait.get("reason") in STUCK_WAITING:
                msg = " ".join(str(wait.get("message") or "").split())
                out.append("%s: %s%s" % (_pod_head(pod), wait["reason"],
                                         ": " + msg[-400:] if msg else ""))
        if not status.get("containerStatuses") and status.get("phase") == "Failed":
            out.append("%s: %s" % (_pod_head(pod), status.get("reason") or status.get("message")
                                   or "failed"))
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                    and cond.get("reason") == "Unschedulable":
                out.append("%s: unschedulable: %s" % (_pod_head(pod), cond.get("message")))
    if stopped:
        out.append("%d pods stopped by SIGTERM (the Job ended, or they were deleted): %s"
                   % (len(stopped), ", ".join(stopped)))
    return out


def _last_line(message):
    """The termination message is the log's tail (FallbackToLogsOnError); worker_cli's last
    line says why it stopped."""
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
