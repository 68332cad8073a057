"""k8s_job: the watch's reading of a Job and its pods, on objects shaped as the API returns them
(written here by hand from the batch/v1 and core/v1 schemas, not recorded from a cluster)."""
from __future__ import annotations

from ansible_collections.datamover.fleet.plugins.module_utils.k8s.job import (
    job_counts,
    job_verdict,
    pod_reasons,
)


def _job(*conditions, **status):
    return {"status": dict(status, conditions=[dict(c) for c in conditions])}


def test_running_job_has_no_verdict():
    assert job_verdict(_job(active=3)) == (None, None)
    assert job_verdict(None) == (None, None)
    assert job_verdict(_job({"type": "Failed", "status": "False"})) == (None, None)


def test_complete_and_failed_end_the_watch():
    assert job_verdict(_job({"type": "Complete", "status": "True"}))[0] == "complete"
    assert job_verdict(_job({"type": "SuccessCriteriaMet", "status": "True",
                             "reason": "CompletionsReached"})) == ("complete", "CompletionsReached")
    verdict, reason = job_verdict(_job({"type": "Failed", "status": "True",
                                        "reason": "DeadlineExceeded",
                                        "message": "Job was active longer than specified deadline"}))
    assert verdict == "failed" and reason.startswith("DeadlineExceeded: Job was active")
    # 1.31+: FailureTarget comes first, while the pods are still being terminated
    assert job_verdict(_job({"type": "FailureTarget", "status": "True",
                             "reason": "PodFailurePolicy"}))[0] == "failed"


def test_counts():
    assert job_counts(_job(active=2, succeeded=1)) == {"active": 2, "ready": 0, "succeeded": 1,
                                                       "failed": 0}


def _pod(name, index, **state):
    return {"metadata": {"name": name, "annotations": {
        "batch.kubernetes.io/job-completion-index": str(index)}},
        "status": {"phase": "Failed" if "terminated" in state else "Pending",
                   "containerStatuses": [{"name": "worker", "state": state}]}}


def test_pod_reasons_quote_the_workers_last_line_and_stuck_pods():
    log = "datamover worker p0 (index 0): joining run r\ndatamover worker p0: no run.json here\n"
    pods = [
        _pod("p0", 0, terminated={"exitCode": 2, "reason": "Error", "message": log}),
        _pod("p1", 1, terminated={"exitCode": 143, "reason": "Error"}),
        _pod("p2", 2, terminated={"exitCode": 0, "reason": "Completed"}),
        _pod("p3", 3, waiting={"reason": "ImagePullBackOff", "message": "Back-off pulling image"}),
        _pod("p4", 4, waiting={"reason": "ContainerCreating"}),
        {"metadata": {"name": "p5"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient memory."}]}},
    ]
    lines = pod_reasons(pods)
    assert lines[0] == "pod p0 (index 0): exit 2 (Error): datamover worker p0: no run.json here"
    assert lines[1] == "pod p3 (index 3): ImagePullBackOff: Back-off pulling image"
    assert lines[2] == "pod p5: unschedulable: 0/3 nodes are available: 3 Insufficient memory."
    assert lines[3].startswith("1 pods stopped by SIGTERM") and "p1 (index 1)" in lines[3]
    assert len(lines) == 4
