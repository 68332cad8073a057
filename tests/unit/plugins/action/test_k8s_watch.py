"""The k8s_watch action's message helpers (the loop itself runs in the integration tests)."""
from __future__ import annotations

from ansible_collections.datamover.fleet.plugins.action.k8s_watch import (
    failure_message,
    pods_line,
)


def test_failure_message_names_the_job_the_reason_the_pods_and_how_to_resume():
    msg = failure_message("dm-r-1", "DeadlineExceeded: too long",
                          ["pod p0 (index 0): exit 2 (Error): no run.json"],
                          {"parts": {"done": 3, "failed": 1, "total": 9}})
    assert msg.startswith("Job dm-r-1 failed (DeadlineExceeded: too long) with 4 of 9 partitions")
    assert "pod p0 (index 0): exit 2" in msg and "same datamover_run_id" in msg
    assert "No pod left a reason." in failure_message("j", "Failed", [], None)


def test_pods_line():
    assert pods_line({"active": 2, "succeeded": 1, "failed": 0}) == \
        " | pods: 2 active, 1 succeeded, 0 failed"
