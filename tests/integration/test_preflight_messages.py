"""Messages that name the cause and the fix (issue 25, point 7), through the real migrate.yml:
a wrong endpoint port answered by preflight in seconds, naming the endpoint; an incremental
pass since a run that does not exist or moved something else, refused before anything is
written; a STOP named in the failure that follows it; the run directory deleted mid-run."""
from __future__ import annotations

import socket
import time

from tests.integration.test_migrate_local import _vars
from tests.lab.trees import sample_tree


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_wrong_endpoint_port_is_answered_within_30_seconds(tmp_path, playbook):
    src, shared = tmp_path / "src", tmp_path / "shared"
    sample_tree(str(src), files=5, big_files=0)
    endpoint = "http://127.0.0.1:%d" % _closed_port()
    conf = tmp_path / "rclone.conf"
    conf.write_text("[dmtest]\ntype = s3\nprovider = SeaweedFS\nendpoint = %s\n"
                    "access_key_id = K\nsecret_access_key = S\n" % endpoint)
    started = time.monotonic()
    run = playbook(_vars(src, "dmtest:dmtest/x", shared, tool="rclone",
                         datamover_rclone_config=str(conf), datamover_run_id="wrong-port"))
    elapsed = time.monotonic() - started
    assert run.rc != 0, run.stdout[-3000:]
    assert "destination dmtest:dmtest/x is not reachable (endpoint %s)" % endpoint in run.stdout
    assert "connection refused" in run.stdout
    assert elapsed < 30, elapsed  # rclone's default retries took 3 min 58 s
    assert not (shared / "wrong-port").exists()


def test_a_since_that_is_no_earlier_run_is_refused_and_leaves_the_run_id_free(tmp_path,
                                                                               playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=20, big_files=0)
    run = playbook(_vars(src, dst, shared, datamover_run_id="catch-up",
                         datamover_since="no-such-run"))
    assert run.rc != 0, run.stdout[-3000:]
    assert "datamover_since=no-such-run: no such run in %s" % shared in run.stdout
    assert not (shared / "catch-up").exists() and not dst.exists()
    # the run id is not poisoned: a plain run under it is a plain run
    run = playbook(_vars(src, dst, shared, datamover_run_id="catch-up"), name="plain")
    assert run.rc == 0, run.stdout[-3000:]
    assert run.report["status"] == "succeeded" and run.report["files"] == 20


def test_the_run_directory_deleted_mid_run_is_named_as_the_cause(tmp_path, playbook):
    import shutil
    import threading
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=120, big_files=4, big_mib=1)
    run_dir = shared / "gone"
    done = run_dir / "state" / "done"

    def delete_when_a_partition_is_done():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if done.is_dir() and any(done.iterdir()):
                shutil.rmtree(run_dir, ignore_errors=True)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=delete_when_a_partition_is_done, daemon=True)
    thread.start()
    run = playbook(_vars(src, dst, shared, datamover_run_id="gone", datamover_partition_files=10,
                         datamover_slots=1, datamover_tool_options=["--bwlimit=300"]))
    thread.join()
    assert run.rc != 0, run.stdout[-3000:]
    assert "the run directory %s disappeared during the run" % run_dir in run.stdout, \
        run.stdout[-3000:]
    assert "the worker ended without finishing" not in run.stdout


def test_a_stop_file_is_named_in_the_failure_that_follows_it(tmp_path, playbook):
    import threading
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    files, _nbytes = sample_tree(str(src), files=120, big_files=4, big_mib=1)
    run_dir = shared / "halt"
    done = run_dir / "state" / "done"

    def stop_when_a_partition_is_done():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if done.is_dir() and any(done.iterdir()):
                (run_dir / "STOP").touch()  # what the README says to do
                return
            time.sleep(0.05)

    thread = threading.Thread(target=stop_when_a_partition_is_done, daemon=True)
    thread.start()
    base = dict(datamover_run_id="halt", datamover_partition_files=10, datamover_slots=1)
    run = playbook(_vars(src, dst, shared, datamover_tool_options=["--bwlimit=300"], **base))
    thread.join()
    assert run.rc != 0, run.stdout[-3000:]
    out = " ".join(run.stdout.split())
    assert "run halt was STOPPED by the STOP file %s" % (run_dir / "STOP") in out, out[-3000:]
    assert run.report["stopped"]["path"] == str(run_dir / "STOP")
    assert "STOPPED by the STOP file" in (run_dir / "report.md").read_text()
    run = playbook(_vars(src, dst, shared, **base), name="resume")
    assert run.rc == 0, run.stdout[-3000:]
    assert run.report["stopped"] is None and run.report["verified"]["files"] == files
