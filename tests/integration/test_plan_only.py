"""datamover_plan_only end to end: migrate.yml on inventories/local (two workers), real rclone,
real S3 (SeaweedFS) behind a request-counting proxy. A plan-only pass over a tree of known
content (a key over the store's 1,024-byte limit, a sparse file, hard links, a FIFO, a
multipart-sized file) reports its figures, sends no write of any kind (no PUT, POST or DELETE:
not even preflight's probe object) and leaves the bucket as it was. A migration then needs a
run id of its own; a plan-only catch-up pass says what would move and what a mirror would
delete, and deletes nothing."""
from __future__ import annotations

import os
import subprocess

from tests.lab.latency_proxy import LatencyProxy
from tests.lab.seaweed import rclone_binary
from tests.unit.plugins.module_utils.work.test_survey import LAYOUT, LONG, MIB, _tree

HOSTS = 2  # inventories/local


def _listing(conf, dest):
    done = subprocess.run([rclone_binary(), "--config", conf, "lsf", "-R", "--files-only", dest],
                          capture_output=True, check=False)
    return sorted(n for n in done.stdout.decode().split("\n") if n)


def _vars(src, dest, shared, run_id, conf, **extra):
    base = {"datamover_source": str(src), "datamover_destination": dest,
            "datamover_tool": "rclone", "datamover_shared_dir": str(shared),
            "datamover_run_id": run_id, "datamover_watch_interval": 1,
            "datamover_partition_files": 3, "datamover_rclone_config": conf,
            "datamover_tool_options": LAYOUT}
    base.update(extra)
    return base


def test_a_plan_only_pass_reports_the_tree_and_writes_nothing_at_the_store(
        tmp_path, playbook, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    sizes = _tree(str(src))
    with LatencyProxy(s3.base + 3, delay=0.0) as proxy:
        conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"), port=proxy.port)
        dest = "dmtest:dmtest/%s" % tmp_path.name
        proxy.reset_counts()
        plan = playbook(_vars(src, dest, shared, "plan", conf, datamover_plan_only=True,
                              datamover_prices={"currency": "USD", "per_1000_writes": 0.005,
                                                "per_1000_lists": 0.005, "per_gb_month": 0.0255},
                              datamover_plan_bytes_per_second=MIB), name="plan")
        counts = proxy.counts()
        assert plan.rc == 0, plan.stdout[-3000:]
        assert not (counts.get("PUT") or counts.get("POST") or counts.get("DELETE")), counts
        assert counts.get("HEAD", 0) <= HOSTS, counts
        assert _listing(conf, dest) == []
        sec = plan.report["plan_only"]
        assert (sec["files"], sec["symlinks"], sec["bytes"]) == (len(sizes), 1, sum(sizes.values()))
        assert sec["unrepresentable"]["samples"] == [[LONG, "object name longer than %d bytes"
                                                      % 1024]]
        assert sec["sparse"]["files"] == 1 and sec["hardlinks"]["duplicated_bytes"] == 3000
        assert sec["special"]["count"] == 1
        assert (sec["requests"]["multipart_uploads"], sec["requests"]["parts"]) == (2, 5)
        assert sec["cost"]["currency"] == "USD" and sec["time"]["bound_by"] == "bytes_per_second"
        assert "PLAN ONLY: nothing was moved or written at the destination" in plan.stdout
        assert "1 names the destination cannot hold" in plan.stdout
        html = open(os.path.join(str(shared), "plan", "report.html")).read()
        assert 'class="histogram"' in html

        again = playbook(_vars(src, dest, shared, "plan", conf, datamover_plan_only=True,
                               datamover_prices={"currency": "EUR", "per_gb_month": 0.02}),
                         name="again")
        assert again.rc == 0, again.stdout[-3000:]
        assert again.report["plan_only"]["cost"]["currency"] == "EUR"  # re-priced, not re-run

        refused = playbook(_vars(src, dest, shared, "plan", conf), name="refused")
        assert refused.rc != 0
        assert "one kind of pass for life" in refused.stdout
        assert _listing(conf, dest) == []

        tolerate = ["unrepresentable"]
        moved = playbook(_vars(src, dest, shared, "full", conf, datamover_tolerate=tolerate),
                         name="full")
        assert moved.rc == 0, moved.stdout[-3000:]
        assert len(_listing(conf, dest)) == len(sizes) - 1 + 1  # the long key stays out; the link

        (src / "new-file").write_bytes(b"n" * 10)
        os.unlink(str(src / "mid"))
        proxy.reset_counts()
        catch_up = playbook(_vars(src, dest, shared, "catch-up", conf, datamover_plan_only=True,
                                  datamover_since="full", datamover_mirror=True),
                            name="catch-up")
        counts = proxy.counts()
        assert catch_up.rc == 0, catch_up.stdout[-3000:]
        assert not (counts.get("PUT") or counts.get("POST") or counts.get("DELETE")), counts
        inc = catch_up.report["incremental"]
        assert (inc["new"], inc["deleted"]) == (1, 1)
        assert inc["mirror"]["requested"] is False and inc["mirror"]["would_delete"] == 1
        assert catch_up.report["plan_only"]["files"] == 1
        assert "mid" in _listing(conf, dest)
