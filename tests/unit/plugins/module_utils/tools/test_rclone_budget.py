"""The request budget (datamover_max_requests_per_second): every rclone process of a run gets
its share as --tpslimit; rsync refuses a budget at preflight."""
from __future__ import annotations

from ansible_collections.datamover.fleet.plugins.module_utils.plan import preflight as pf
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import RcloneTool
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import RsyncTool


def _tool():
    return RcloneTool("/src", "remote:bucket/prefix", binary="rclone")


def test_no_budget_no_flags():
    tool = _tool()
    tool.limit_requests(0)
    argv = tool.commands("/tmp/list", "/tmp")[0]
    assert "--tpslimit" not in argv


def test_every_rclone_command_carries_the_share():
    tool = _tool()
    tool.limit_requests(2.5)
    for argv in (tool.commands("/tmp/list", "/tmp")[0], tool.listing_argv("/tmp/list"),
                 tool.dir_listing_argv(["a", "b"])):
        i = argv.index("--tpslimit")
        assert argv[i + 1] == "2.5" and argv[argv.index("--tpslimit-burst") + 1] == "1"
        # before the subcommand: a global flag, also for rc --loopback's in-process calls
        assert i < argv.index(next(a for a in argv if a in ("copy", "lsf", "rc")))


def test_split_over_slots_and_their_two_processes(tmp_path):
    from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
    from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker
    rundir = RunDir(str(tmp_path), "r1")
    rundir.create_or_check({"source": str(tmp_path), "destination": "remote:b/p",
                            "tool": "rclone", "tool_options": []})
    worker = Worker(rundir, "h1", slots=4, max_requests_per_second=40)
    assert worker.per_process_requests == 5.0
    assert worker.tool.limit_flags() == ["--tpslimit", "5", "--tpslimit-burst", "1"]


def test_rsync_refuses_a_budget_rclone_takes_it():
    assert pf.check_request_budget("rsync", {"max_requests_per_second": 0}) == []
    assert pf.check_request_budget("rsync", {"max_requests_per_second": "0"}) == []
    refused = pf.check_request_budget("rsync", {"max_requests_per_second": 10})
    assert len(refused) == 1 and "refused with rsync" in refused[0]
    assert pf.check_request_budget("rclone", {"max_requests_per_second": 10}) == []
    assert not RsyncTool.sends_requests and RcloneTool.sends_requests


def test_a_tpslimit_of_the_user_is_refused_with_a_budget():
    budget = {"max_requests_per_second": 10}
    refused = pf.check_request_budget("rclone", budget, ["--tpslimit=50"])
    assert len(refused) == 1 and "drop --tpslimit" in refused[0]
    assert pf.check_request_budget("rclone", budget, ["--tpslimit-burst", "5"])
    # without a budget, --tpslimit is the user's business
    assert pf.check_request_budget("rclone", {"max_requests_per_second": 0},
                                   ["--tpslimit=50"]) == []


def test_budget_range():
    assert pf.check_tunables({"max_requests_per_second": -1})
    assert pf.check_tunables({"max_requests_per_second": 0.5}) == []
