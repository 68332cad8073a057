"""plugin_utils/watch_loop: the verdicts every watch shares (the loop's hooks are stubbed)."""
from __future__ import annotations

import time

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.datamover.fleet.plugins.plugin_utils.watch_loop import WatchLoop


class _Settled(WatchLoop):
    """A run the executor calls over at the first poll (a Job "Complete")."""

    def __init__(self, st, started):
        super().__init__(None, {"interval": 1.0, "started": started, "timeout": 0.0,
                                "startup_grace": 60.0}, {})
        self.st = st

    def read(self):
        return self.st

    def done(self, st, now):
        return True


def _status(plan_failed):
    return {"plan_failed": plan_failed, "complete": False, "bytes_done": 0, "files_done": 0,
            "workers_alive": 0, "parts": {"total": 0, "todo": 0, "claimed": 0, "done": 0,
                                          "failed": 0}}


def test_a_failed_plan_fails_the_watch_before_the_executor_calls_the_run_over():
    """Pods that find nothing to do (the plan failed) exit 0 and the Job turns Complete: the
    watch fails with the planner's message, not with an empty report."""
    started = time.time()
    loop = _Settled(_status({"error": "datamover_mirror needs datamover_since", "time": started + 1}),
                    started)
    with pytest.raises(AnsibleActionFail, match="planning failed: datamover_mirror needs"):
        loop.watch()


def test_an_earlier_executions_plan_failure_is_not_this_ones(monkeypatch):
    started = time.time()
    loop = _Settled(_status({"error": "old", "time": started - 100}), started)
    monkeypatch.setattr("ansible_collections.datamover.fleet.plugins.plugin_utils.watch_loop."
                        "progress_line", lambda *a: "line")
    assert loop.watch() is loop.st
