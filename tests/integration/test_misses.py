"""Every miss fails the run unless its class is tolerated (issue 25, point 3), through the real
migrate.yml: a name the store cannot hold (real rclone, real S3), and a plan whose every entry
was excluded (real rsync); the reports count what datamover_excludes left out."""
from __future__ import annotations

import json
import os

from tests.integration.test_migrate_local import _vars
from tests.lab.trees import sample_tree


def _long_path(root):
    """A file whose object key is over 1024 bytes: five directories of 240 bytes."""
    rel = "/".join([("d%d" % i) + "x" * 238 for i in range(5)] + ["too-long.txt"])
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write("a name no object store holds")
    return rel


def test_a_name_the_store_cannot_hold_fails_the_run_unless_tolerated(tmp_path, playbook, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    files, _nbytes = sample_tree(str(src / "ok"), files=30, big_files=0)
    rel = _long_path(str(src))
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    base = dict(tool="rclone", datamover_rclone_config=conf, datamover_partition_files=20)

    run = playbook(_vars(src, "dmtest:dmtest/%s/strict" % tmp_path.name, shared,
                         datamover_run_id="strict", **base))
    assert run.rc != 0, run.stdout[-3000:]
    rep = run.report
    assert rep["status"] == "failed" and rep["untolerated"] == {"unrepresentable": 1}
    assert rep["verified"]["files"] == files and rep["partitions"]["failed"] == 0
    assert "1 files whose name the destination cannot hold" in run.stdout
    assert "datamover_tolerate" in run.stdout and "unrepresentable" in run.stdout
    with open(rep["files_not_copied"]["list"]) as handle:
        listed = [json.loads(line) for line in handle]
    assert [r["path"] for r in listed] == [rel]

    run = playbook(_vars(src, "dmtest:dmtest/%s/lenient" % tmp_path.name, shared,
                         datamover_run_id="lenient", datamover_tolerate=["unrepresentable"],
                         **base), name="lenient")
    assert run.rc == 0, run.stdout[-3000:]
    assert run.report["status"] == "succeeded" and run.report["unrepresentable"]["count"] == 1
    assert "1 names the destination cannot hold" in run.stdout


def test_excluding_every_entry_fails_the_run_and_the_reports_count_excluded(tmp_path, playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src / "data"), files=40, big_files=0)
    (src / "notes.txt").write_text("kept")

    # the patterns together leave nothing: the run moves nothing and fails, saying why
    run = playbook(_vars(src, dst, shared, datamover_run_id="none-left",
                         datamover_excludes=["*.bin", "*.txt"]))
    assert run.rc != 0, run.stdout[-3000:]
    rep = run.report
    assert rep["status"] == "failed" and rep["excluded"]["count"] == 41
    assert rep["untolerated"] == {"excluded_everything": 41}
    assert "Nothing was moved: datamover_excludes (*.bin, *.txt) excluded every one" in run.stdout
    assert "EVERY entry of the source was excluded" in run.stdout

    # a partial exclusion succeeds, and report.json, report.md and report.html count it
    run = playbook(_vars(src, tmp_path / "dst2", shared, datamover_run_id="some-left",
                         datamover_excludes=["data/"]), name="some")
    assert run.rc == 0, run.stdout[-3000:]
    rep = run.report
    assert rep["status"] == "succeeded" and rep["files"] == 1
    assert rep["excluded"] == {"count": 1, "samples": ["data"], "patterns": ["data/"]}
    line = "excluded by datamover_excludes (data/): 1 entries"
    assert line in run.stdout
    run_dir = shared / "some-left"
    assert line in (run_dir / "report.md").read_text()
    assert line in (run_dir / "report.html").read_text()
    assert "Excluded by datamover_excludes" in (run_dir / "report.md").read_text()


def test_a_resume_whose_config_reaches_another_store_is_refused(tmp_path, playbook, s3):
    """The same remote name, another endpoint: refused before anything is written; the same
    store with its credentials given another way resumes."""
    from tests.lab.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3, rclone_binary
    import subprocess
    src, shared = tmp_path / "src", tmp_path / "shared"
    files, _nbytes = sample_tree(str(src), files=60, big_files=0)
    first = s3.write_rclone_config(str(tmp_path / "first.conf"))
    dest = "dmtest:dmtest/%s" % tmp_path.name
    base = dict(tool="rclone", datamover_partition_files=20, datamover_run_id="one-store")
    run = playbook(_vars(src, dest, shared, datamover_rclone_config=first, **base))
    assert run.rc == 0, run.stdout[-3000:]
    with open(shared / "one-store" / "run.json") as handle:
        recorded = json.load(handle)

    with SeaweedS3(bucket="dmtest") as other:
        second = other.write_rclone_config(str(tmp_path / "second.conf"))
        run = playbook(_vars(src, dest, shared, datamover_rclone_config=second, **base),
                       name="elsewhere")
        assert run.rc != 0, run.stdout[-3000:]
        assert "datamover_run_id 'one-store' wrote to another store" in run.stdout
        assert "endpoint '%s' -> '%s'" % (s3.endpoint, other.endpoint) in run.stdout
        listing = subprocess.run([rclone_binary(), "--config", second, "lsf", "-R", dest],
                                 capture_output=True, text=True, check=False)
        assert listing.stdout == ""  # nothing written to the other store
    with open(shared / "one-store" / "run.json") as handle:
        assert json.load(handle) == recorded  # nor to the run
    assert recorded["store"] == {"type": "s3", "provider": "SeaweedFS", "endpoint": s3.endpoint,
                                 "region": "", "namespace": "", "remote": "", "bucket": "dmtest"}

    # the same store, the credentials from the environment instead of the file: resumes
    third = tmp_path / "third.conf"
    third.write_text("[dmtest]\ntype = s3\nprovider = SeaweedFS\nendpoint = %s\n" % s3.endpoint)
    run = playbook(_vars(src, dest, shared, datamover_rclone_config=str(third), **base),
                   name="same", envvars={"RCLONE_CONFIG_DMTEST_ACCESS_KEY_ID": ACCESS_KEY,
                                         "RCLONE_CONFIG_DMTEST_SECRET_ACCESS_KEY": SECRET_KEY})
    assert run.rc == 0, run.stdout[-3000:]
    assert run.report["verified"]["files"] == files


def test_special_files_are_named_in_not_copied_jsonl(tmp_path, playbook):
    import socket
    import stat
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    files, _nbytes = sample_tree(str(src / "data"), files=20, big_files=0)
    os.mkfifo(str(src / "data" / "a-fifo"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "a-socket"))
    try:
        run = playbook(_vars(src, dst, shared, datamover_run_id="specials"))
    finally:
        sock.close()
    assert run.rc == 0, run.stdout[-3000:]  # nothing to copy is not a miss
    rep = run.report
    assert rep["not_copied"]["count"] == 2 and rep["verified"]["files"] == files
    with open(rep["files_not_copied"]["list"]) as handle:
        listed = sorted((r["path"], r["reason"], r["class"]) for r in map(json.loads, handle))
    why = "special file (device, fifo or socket) not copied"
    assert listed == [("a-socket", why, None), ("data/a-fifo", why, None)]
    assert rep["files_not_copied"]["count"] == 2
    assert not (dst / "data" / "a-fifo").exists() and stat.S_ISFIFO(
        os.lstat(str(src / "data" / "a-fifo")).st_mode)


def test_rsync_writes_holes_as_zeros_unless_sparse_is_given(tmp_path, playbook):
    """docs/metadata.md, "Sparse files": what we do, measured by st_blocks."""
    src, shared = tmp_path / "src", tmp_path / "shared"
    src.mkdir()
    with open(src / "image.raw", "wb") as handle:
        handle.truncate(16 << 20)  # 16 MiB of hole
        handle.write(b"start")
    held = os.stat(src / "image.raw").st_blocks * 512
    assert held < (1 << 20)  # the source is sparse here
    for name, options in (("dense", []), ("sparse", ["--sparse"])):
        dst = tmp_path / name
        run = playbook(_vars(src, dst, shared, datamover_run_id=name,
                             datamover_tool_options=options), name=name)
        assert run.rc == 0, run.stdout[-3000:]
        st = os.stat(dst / "image.raw")
        assert st.st_size == 16 << 20
        if options:
            assert st.st_blocks * 512 < (1 << 20)
        else:
            assert st.st_blocks * 512 >= 16 << 20
