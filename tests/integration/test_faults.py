"""Faults a run must survive, against real SeaweedFS and rclone through migrate.yml."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time

from tests.integration.test_migrate_local import _vars
from tests.lab.seaweed import SeaweedS3
from tests.lab.trees import sample_tree


def test_store_killed_mid_run_and_back_20s_later_loses_nothing(tmp_path, playbook):
    """The object store is SIGKILLed once partitions are moving and restarted 20 s later on the
    same data: the failed attempts are retried (with backoff) and the run succeeds, every file
    verified by an independent listing."""
    store = SeaweedS3(bucket="dmtest", workdir=str(tmp_path / "weed"))
    store.start()
    try:
        src, shared = tmp_path / "src", tmp_path / "shared"
        files, nbytes = sample_tree(str(src), files=300, big_files=0)
        conf = store.write_rclone_config(str(tmp_path / "rclone.conf"))
        out = {}
        args = _vars(src, "dmtest:dmtest/outage", shared, tool="rclone",
                     datamover_rclone_config=conf, datamover_run_id="outage",
                     datamover_partition_files=20, datamover_slots=1, datamover_backoff=6,
                     datamover_retries=4, datamover_tool_options=["--bwlimit=200k"])
        thread = threading.Thread(target=lambda: out.update(run=playbook(args)))
        thread.start()
        done = shared / "outage" / "state" / "done"
        deadline = time.time() + 180
        while time.time() < deadline and not (done.is_dir() and len(os.listdir(done)) >= 2):
            time.sleep(0.2)
        assert done.is_dir() and len(os.listdir(done)) >= 2, "no partition finished"
        store.kill()
        time.sleep(20)
        store.start(same_ports=True)
        thread.join(600)
        run = out["run"]
        assert run.rc == 0, run.stdout[-4000:]
        rep = run.report
        assert rep["status"] == "succeeded"
        assert rep["files"] == files and rep["bytes"] == nbytes
        assert rep["verified"] == {"files": files, "bytes": nbytes, "mismatches": 0}
        # the outage hit the run: an attempt waited it out (rclone's low-level retries) or a
        # partition was sent again (the worker's retries)
        import json
        results = []
        for name in os.listdir(shared / "outage" / "results"):
            with open(shared / "outage" / "results" / name) as handle:
                results.append(json.load(handle))
        assert any(len(r["attempts"]) > 1 or r["attempts"][0]["seconds"] >= 15 for r in results)
    finally:
        store.stop()
        shutil.rmtree(str(tmp_path / "weed"), ignore_errors=True)


def test_destination_full_fails_clearly_and_reports_only_what_is_there(tmp_path, playbook):
    """rsync into a 2 MiB tmpfs with 6 MiB to move: the run fails listing the partitions that
    did not fit, and every partition reported done is on disk, file by file."""
    import json
    import subprocess

    import pytest
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    dst = tmp_path / "full"
    dst.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(dst)], check=True)
    try:
        src, shared = tmp_path / "src", tmp_path / "shared"
        sample_tree(str(src), files=60, big_files=3, big_mib=2)
        run = playbook(_vars(src, dst, shared, datamover_run_id="full",
                             datamover_partition_files=10, datamover_retries=0))
        assert run.rc != 0
        rep = run.report
        assert rep["status"] == "failed" and rep["partitions"]["failed"] >= 1
        assert "No space left on device" in run.stdout or any(
            "No space left" in open(log, errors="replace").read()
            for p in rep["failed_partitions"] for log in p["logs"])
        assert "Partition " in run.stdout and "logs:" in run.stdout  # listed, with their logs
        run_dir = shared / "full"
        for part in os.listdir(run_dir / "state" / "done"):
            with open(run_dir / "results" / (part + ".json")) as handle:
                assert json.load(handle)["verified"]["mismatches"] == 0
        with open(run_dir / "run.json") as handle:
            assert json.load(handle)["destination"] == str(dst)
        from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
        rundir = RunDir(str(shared), "full")
        for part in os.listdir(run_dir / "state" / "done"):
            for kind, size, _mtime, rel in rundir.read_manifest(int(part.split(".")[0])):
                st = os.lstat(os.path.join(os.fsencode(str(dst)), rel))
                assert kind != "f" or st.st_size == size, rel
    finally:
        subprocess.run(["umount", "-l", str(dst)], check=False)


def test_store_killed_for_good_fails_listing_partitions_and_a_rerun_moves_only_those(
        tmp_path, playbook):
    """The store dies and stays dead: the partitions still to move fail after their retries
    and the play fails, listing them. With the store back, the same run id moves only those."""
    import json
    store = SeaweedS3(bucket="dmtest", workdir=str(tmp_path / "weed"))
    store.start()
    try:
        src, shared = tmp_path / "src", tmp_path / "shared"
        # small partitions: with the store gone, rclone's pacer spends ~2 s on every file
        files, nbytes = sample_tree(str(src), files=30, big_files=0)
        conf = store.write_rclone_config(str(tmp_path / "rclone.conf"))
        common = dict(tool="rclone", datamover_rclone_config=conf, datamover_run_id="dead",
                      datamover_partition_files=3, datamover_slots=1, datamover_backoff=0.2,
                      datamover_retries=0)
        fast_fail = ["--low-level-retries=1", "--contimeout=1s", "--timeout=2s"]
        out = {}
        thread = threading.Thread(target=lambda: out.update(run=playbook(
            _vars(src, "dmtest:dmtest/dead", shared, datamover_tool_options=fast_fail
                  + ["--bwlimit=30k"], **common), name="first",
            # the verification listing gets no tool options: its retries too (local workers)
            envvars={"RCLONE_LOW_LEVEL_RETRIES": "1", "RCLONE_CONTIMEOUT": "1s"})))
        thread.start()
        run_dir = shared / "dead"
        done = run_dir / "state" / "done"
        deadline = time.time() + 180
        while time.time() < deadline and not (done.is_dir() and len(os.listdir(done)) >= 2):
            time.sleep(0.2)
        assert done.is_dir() and len(os.listdir(done)) >= 2, "no partition finished"
        store.kill()
        thread.join(600)
        first = out["run"]
        assert first.rc != 0
        rep = first.report
        assert rep["status"] == "failed" and rep["partitions"]["failed"] >= 1
        for item in rep["failed_partitions"]:
            assert "Partition %06d" % item["part"] in first.stdout
        assert "datamover_run_id=dead" in first.stdout  # how to retry
        done_first = set(os.listdir(done))
        stamps = {p: os.stat(run_dir / "results" / (p + ".json")).st_mtime_ns for p in done_first}

        store.start(same_ports=True)
        second = playbook(_vars(src, "dmtest:dmtest/dead", shared, **common), name="second")
        assert second.rc == 0, second.stdout[-3000:]
        rep = second.report
        assert rep["status"] == "succeeded" and rep["files"] == files and rep["bytes"] == nbytes
        assert rep["verified"]["mismatches"] == 0
        for part in done_first:  # not sent again
            assert os.stat(run_dir / "results" / (part + ".json")).st_mtime_ns == stamps[part]
        resent = {r["part"] for r in (json.load(open(run_dir / "results" / n))
                                      for n in os.listdir(run_dir / "results"))
                  if len(r["attempts"]) > 1}
        assert resent and not {int(p) for p in done_first} & resent
    finally:
        store.stop()
        shutil.rmtree(str(tmp_path / "weed"), ignore_errors=True)


def _proxied_config(store, proxy, path):
    """An rclone.conf whose remote reaches the store through ``proxy``."""
    store.write_rclone_config(path)
    with open(path) as handle:
        text = handle.read().replace(store.endpoint, proxy.endpoint)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def _attempts(run_dir):
    import json
    out = []
    for name in os.listdir(run_dir / "results"):
        with open(run_dir / "results" / name) as handle:
            out.append(json.load(handle))
    return out


def test_store_throttling_a_quarter_of_requests_loses_nothing(tmp_path, playbook, s3):
    """A proxy answers 25% of the requests with 503 SlowDown or 429: rclone's low-level
    retries absorb them, the run succeeds and every file is verified by an independent
    listing (itself throttled too)."""
    from tests.lab.throttle_proxy import ThrottleProxy
    with ThrottleProxy(s3.base + 3, share=0.25, statuses=(503, 429), seed=14) as proxy:
        src, shared = tmp_path / "src", tmp_path / "shared"
        files, nbytes = sample_tree(str(src), files=400, big_files=2, big_mib=3)
        conf = _proxied_config(s3, proxy, str(tmp_path / "rclone.conf"))
        run = playbook(_vars(src, "dmtest:dmtest/throttled", shared, tool="rclone",
                             datamover_rclone_config=conf, datamover_run_id="throttled",
                             datamover_partition_files=50))
        counts = proxy.counts()
    assert run.rc == 0, run.stdout[-4000:]
    rep = run.report
    assert rep["status"] == "succeeded"
    assert rep["files"] == files and rep["bytes"] == nbytes
    assert rep["verified"] == {"files": files, "bytes": nbytes, "mismatches": 0}
    assert rep["files_not_copied"]["count"] == 0
    share = counts["throttled"] / counts["total"]
    assert counts[503] and counts[429] and 0.2 <= share <= 0.3, counts
    # the retries were rclone's own, per request: no partition had to be sent again
    resent = [r["part"] for r in _attempts(shared / "throttled") if len(r["attempts"]) > 1]
    print("throttled %d of %d requests (%.0f%%: %d x 503, %d x 429); partitions re-sent: %s"
          % (counts["throttled"], counts["total"], 100 * share, counts[503], counts[429],
             resent or "none"))


def test_request_budget_keeps_the_fleet_under_it(tmp_path, playbook, s3):
    """datamover_max_requests_per_second=20 over two hosts x two slots: the requests the
    proxy counts in any one-second window stay under the budget plus one burst token per
    rclone process, and the run is as slow as the budget says (it did bind)."""
    from tests.lab.throttle_proxy import ThrottleProxy
    budget = 20
    with ThrottleProxy(s3.base + 3, share=0.0) as proxy:
        src, shared = tmp_path / "src", tmp_path / "shared"
        files, nbytes = sample_tree(str(src), files=300, big_files=0)
        conf = _proxied_config(s3, proxy, str(tmp_path / "rclone.conf"))
        run = playbook(_vars(src, "dmtest:dmtest/budget", shared, tool="rclone",
                             datamover_rclone_config=conf, datamover_run_id="budget",
                             datamover_partition_files=25,
                             datamover_max_requests_per_second=budget))
        counts = proxy.counts()
        peak, at = proxy.max_in_window(1.0)
        log = proxy.requests()
    assert run.rc == 0, run.stdout[-4000:]
    rep = run.report
    assert rep["status"] == "succeeded" and rep["files"] == files
    assert rep["verified"] == {"files": files, "bytes": nbytes, "mismatches": 0}
    span = log[-1][0] - log[0][0]
    # 2 hosts x 2 slots x 2 processes (transfer, verification): one burst token each
    processes = 2 * 2 * 2
    print("budget %d/s: %d requests in %.1f s (%.1f/s on average), peak %d in one second "
          "(at +%.1f s)" % (budget, counts["total"], span, counts["total"] / span, peak, at))
    assert peak <= budget + processes, (peak, at)
    assert counts["total"] / span <= budget
    assert span >= counts["total"] / budget * 0.8  # the budget bound the run
    shares = {w["host"]: w.get("max_requests_per_second")
              for w in (json.load(open(p)) for p in (shared / "budget" / "workers").glob("*.json"))}
    assert shares and all(v == budget / 2 for v in shares.values()), shares


def _uploads(store, root):
    import subprocess

    from tests.lab.seaweed import rclone_binary
    proc = subprocess.run([rclone_binary(), "backend", "list-multipart-uploads", root],
                          env=store.rclone_env(), capture_output=True, check=True)
    return sorted(u["Key"] for items in json.loads(proc.stdout).values() for u in items or ())


def _leave_upload(store, src_file, dest):
    """A multipart upload left behind the way a crash leaves one: rclone SIGKILLed once the
    store lists the upload."""
    import subprocess

    from tests.lab.seaweed import rclone_binary
    key = dest.split(":", 1)[1].split("/", 1)[1]
    proc = subprocess.Popen([rclone_binary(), "copyto", src_file, dest, "--s3-upload-cutoff=5M",
                             "--s3-chunk-size=5M", "--bwlimit=2M"], env=store.rclone_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline and key not in _uploads(store, "dmtest:dmtest"):
        time.sleep(0.3)
    proc.kill()
    proc.wait()
    assert key in _uploads(store, "dmtest:dmtest")


def _rclone_copies(marker):
    """pids of the rclone copy processes whose arguments hold ``marker`` (this run's)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"rclone" and b"copy" in argv \
                and any(marker.encode() in a for a in argv):
            out.append(int(pid))
    return out


def test_killed_multipart_upload_is_aborted_at_the_end_and_only_the_runs_own(
        tmp_path, playbook):
    """rclone is SIGKILLed while it uploads a 24 MiB file in parts: the retry sends the file
    again, and the report step aborts the upload the killed attempt left. Uploads that are not
    the run's survive: one under its destination initiated before the run (for a file of the
    plan), and one outside it (``mp2/`` beside ``mp/``) initiated during the run."""
    import signal
    store = SeaweedS3(bucket="dmtest", workdir=str(tmp_path / "weed"))
    store.start()
    try:
        src, shared = tmp_path / "src", tmp_path / "shared"
        files, nbytes = sample_tree(str(src / "data"), files=40, big_files=0)
        (src / "big").mkdir()
        with open(src / "big" / "a.bin", "wb") as handle:
            handle.write(os.urandom(24 << 20))
        with open(src / "big" / "c.bin", "wb") as handle:
            handle.write(os.urandom(1024))
        files, nbytes = files + 2, nbytes + (24 << 20) + 1024
        scratch = str(tmp_path / "scratch.bin")
        with open(scratch, "wb") as handle:
            handle.write(os.urandom(12 << 20))
        # another writer's upload under the destination, for a file of the plan, before the run
        _leave_upload(store, scratch, "dmtest:dmtest/mp/big/c.bin")
        time.sleep(1.5)  # the store's clock counts whole seconds
        conf = store.write_rclone_config(str(tmp_path / "rclone.conf"))
        out = {}
        thread = threading.Thread(target=lambda: out.update(run=playbook(_vars(
            src, "dmtest:dmtest/mp", shared, tool="rclone", datamover_rclone_config=conf,
            datamover_run_id="multipart", datamover_partition_files=100, datamover_slots=1,
            datamover_retries=2, datamover_backoff=1,
            datamover_tool_options=["--s3-upload-cutoff=5M", "--s3-chunk-size=5M",
                                    "--bwlimit=3M"]))))
        thread.start()
        deadline = time.time() + 120
        killed = None
        while time.time() < deadline and killed is None:
            if "mp/big/a.bin" in _uploads(store, "dmtest:dmtest/mp/"):
                for pid in _rclone_copies(str(shared)):
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
            time.sleep(0.2)
        assert killed, "no multipart upload of big/a.bin seen"
        # another writer, beside the destination, during the run
        _leave_upload(store, scratch, "dmtest:dmtest/mp2/big/a.bin")
        thread.join(600)
        run = out["run"]
        assert run.rc == 0, run.stdout[-4000:]
        rep = run.report
        assert rep["status"] == "succeeded" and rep["files"] == files
        assert rep["verified"] == {"files": files, "bytes": nbytes, "mismatches": 0}
        up = rep["multipart_uploads"]
        assert up["checked"] and not up["error"], up
        assert up["aborted"] == 1 and up["aborted_samples"][0]["key"] == "mp/big/a.bin", up
        assert [k["key"] for k in up["kept_samples"]] == ["mp/big/c.bin"], up
        assert "initiated before this run" in up["kept_samples"][0]["reason"]
        assert "multipart uploads left by this run: 1 aborted" in run.stdout
        with open(shared / "multipart" / "report.md") as handle:
            assert "mp/big/a.bin" in handle.read()
        with open(shared / "multipart" / "report.html") as handle:
            assert "multipart uploads left by this run: 1 aborted" in handle.read()
        # what is left at the store: the two uploads of other writers, none of the run's
        assert _uploads(store, "dmtest:dmtest") == ["mp/big/c.bin", "mp2/big/a.bin"]
        resent = [r for r in _attempts(shared / "multipart") if len(r["attempts"]) > 1]
        assert resent, "the killed attempt was not retried"
        print("killed rclone pid %d mid-upload; re-sent %d partition(s); aborted %s; left "
              "alone %s" % (killed, len(resent), [a["key"] for a in up["aborted_samples"]],
                            _uploads(store, "dmtest:dmtest")))
    finally:
        store.stop()
        shutil.rmtree(str(tmp_path / "weed"), ignore_errors=True)
