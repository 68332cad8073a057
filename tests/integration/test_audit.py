"""Content checks and the audit pass end to end (migrate.yml on inventories/local, real rclone,
real rsync, real S3 (SeaweedFS) behind a request-counting proxy).

After a run, one small object and one multipart object are replaced out of band by other bytes
of the same size, and one rsync destination file by other bytes with the same size and mtime:
a checksum audit names exactly those three and fails; a size audit passes them (it compares
names and sizes, as documented); a checksum run sends them again. The audit moves nothing and
reads the listing only. A resume after objects were deleted at the destination says those
partitions were verified by the earlier invocation, not now."""
from __future__ import annotations

import json
import os
import subprocess

from tests.lab.latency_proxy import LatencyProxy
from tests.lab.seaweed import rclone_binary
from tests.lab.trees import sample_tree

MIB = 1 << 20
HOSTS = 2  # inventories/local
# A 13 MiB file is a 3-part object at this layout (rclone's default cutoff is 200 MiB).
LAYOUT = ["--s3-upload-cutoff=5M", "--s3-chunk-size=5M"]


def _vars(src, dst, shared, run_id, tool, **extra):
    base = {"datamover_source": str(src), "datamover_destination": str(dst),
            "datamover_tool": tool, "datamover_shared_dir": str(shared),
            "datamover_run_id": run_id, "datamover_watch_interval": 1,
            "datamover_backoff": 0.2, "datamover_partition_files": 40}
    base.update(extra)
    return base


def _not_copied(shared, run_id):
    with open(os.path.join(str(shared), run_id, "not-copied.jsonl")) as handle:
        return sorted((r["path"], r["class"]) for r in map(json.loads, handle))


def _source(tmp_path):
    src = tmp_path / "src"
    sample_tree(str(src), files=120, big_files=0)
    (src / "d").mkdir()
    (src / "d" / "small").write_bytes(os.urandom(1000))
    (src / "d" / "big").write_bytes(os.urandom(13 * MIB + 5))
    return src


def _replace_object(conf, dest, rel, size):
    """Other bytes of the same size, written by another tool (rclone rcat, the same layout)."""
    subprocess.run([rclone_binary(), "--config", conf, "rcat", "--s3-no-check-bucket"] + LAYOUT
                   + ["%s/%s" % (dest, rel)], input=os.urandom(size), check=True,
                   capture_output=True)


def _replace_file(path):
    """Other bytes, same size, same mtime: rsync's quick check and a size check see nothing."""
    st = os.stat(path)
    with open(path, "r+b") as handle:
        data = handle.read()
        handle.seek(0)
        handle.write(bytes(b ^ 0xFF for b in data[:64]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_checksum_audit_names_exactly_the_replaced_content_and_a_checksum_run_resends_it(
        tmp_path, playbook, s3):
    src, shared, dst = _source(tmp_path), tmp_path / "shared", tmp_path / "dst"
    with LatencyProxy(s3.base + 3, delay=0.0, keep_lines=True) as proxy:
        conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"), port=proxy.port)
        dest = "dmtest:dmtest/%s" % tmp_path.name
        s3v = dict(datamover_rclone_config=conf, datamover_tool_options=LAYOUT)
        ran = playbook(_vars(src, dest, shared, "s3-run", "rclone", datamover_verify="checksum",
                             **s3v), name="s3-run")
        assert ran.rc == 0, ran.stdout[-3000:]
        files = ran.report["planned"]["files"]
        assert ran.report["verification"]["verified_now"]["content_checked"] == files
        meta = json.load(open(os.path.join(str(shared), "s3-run", "run.json")))
        assert meta["multipart"]["chunk_size"] == 5 * MIB
        assert playbook(_vars(src, dst, shared, "fs-run", "rsync"), name="fs-run").rc == 0

        _replace_object(conf, dest, "d/small", 1000)
        _replace_object(conf, dest, "d/big", 13 * MIB + 5)
        _replace_file(str(dst / "d" / "small"))

        proxy.reset_counts()
        audit = playbook(_vars(src, dest, shared, "s3-audit", "rclone", datamover_audit=True,
                               datamover_verify="checksum", **s3v), name="s3-audit")
        counts = proxy.counts()
        assert audit.rc != 0
        assert _not_copied(shared, "s3-audit") == [("d/big", "other content"),
                                                   ("d/small", "other content")]
        assert audit.report["verification"]["audited_now"]["files"] == files - 2
        assert "the destination does NOT hold the source" in audit.stdout
        # nothing written, and the listing alone: no HEAD or GET of any object (each host's
        # preflight stats the bucket: one HEAD of the bucket each)
        assert not counts.get("PUT") and not counts.get("DELETE") and not counts.get("GET"), \
            counts
        assert counts.get("HEAD", 0) <= HOSTS, counts
        fs_audit = playbook(_vars(src, dst, shared, "fs-audit", "rsync", datamover_audit=True,
                                  datamover_verify="checksum"), name="fs-audit")
        assert fs_audit.rc != 0
        assert _not_copied(shared, "fs-audit") == [("d/small", "other content")]

        for run_id, tool, where in (("s3-size", "rclone", dest), ("fs-size", "rsync", dst)):
            extra = s3v if tool == "rclone" else {}
            size = playbook(_vars(src, where, shared, run_id, tool, datamover_audit=True,
                                  **extra), name=run_id)
            assert size.rc == 0, size.stdout[-3000:]  # a size audit cannot see content
            assert "the destination HOLDS the source" in size.stdout

        for run_id, tool, where in (("s3-again", "rclone", dest), ("fs-again", "rsync", dst)):
            extra = s3v if tool == "rclone" else {}
            again = playbook(_vars(src, where, shared, run_id, tool, datamover_verify="checksum",
                                   **extra), name=run_id)
            assert again.rc == 0, again.stdout[-3000:]
            check = playbook(_vars(src, where, shared, run_id + "-audit", tool,
                                   datamover_audit=True, datamover_verify="checksum", **extra),
                             name=run_id + "-audit")
            assert check.rc == 0, check.stdout[-3000:]
    assert (dst / "d" / "small").read_bytes() == (src / "d" / "small").read_bytes()


def test_a_resume_says_what_an_earlier_invocation_verified_and_an_audit_checks_now(
        tmp_path, playbook, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    sample_tree(str(src), files=100, big_files=0)
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    dest = "dmtest:dmtest/%s" % tmp_path.name
    common = dict(datamover_rclone_config=conf)
    first = playbook(_vars(src, dest, shared, "resume", "rclone", **common), name="first")
    assert first.rc == 0, first.stdout[-3000:]
    listing = subprocess.run([rclone_binary(), "--config", conf, "lsf", "-R", "--files-only",
                              dest], capture_output=True, check=True).stdout.split(b"\n")
    gone = sorted(n.decode() for n in listing if n)[::2]
    for name in gone:
        subprocess.run([rclone_binary(), "--config", conf, "deletefile", dest + "/" + name],
                       check=True)

    again = playbook(_vars(src, dest, shared, "resume", "rclone", **common), name="again")
    assert again.rc == 0, again.stdout[-3000:]  # done partitions are not looked at again
    ver = again.report["verification"]
    assert ver["verified_now"]["files"] == 0 and ver["verified_now"]["partitions"] == 0
    assert ver["verified_earlier"]["files"] == 100
    assert ver["verified_earlier"]["first"] and ver["audited_now"]["files"] == 0
    assert "verified now, by name and size: 0 files" in again.stdout
    assert ("verified earlier, not checked now: 100 files" in again.stdout
            and "earlier invocation (%s" % ver["verified_earlier"]["first"] in again.stdout)
    assert "100 of 100 source files verified (0 now, 100 by an earlier invocation)" \
        in again.stdout

    audit = playbook(_vars(src, dest, shared, "resume-audit", "rclone", datamover_audit=True,
                           **common), name="audit")
    assert audit.rc != 0
    assert _not_copied(shared, "resume-audit") == [(name, "missing") for name in gone]
    assert audit.report["verification"]["audited_now"]["files"] == 100 - len(gone)
    subprocess.run([rclone_binary(), "--config", conf, "rcat", "--s3-no-check-bucket",
                    dest + "/not/in/source"], input=b"extra", check=True)
    extra = playbook(_vars(src, dest, shared, "extra-audit", "rclone", datamover_audit=True,
                           datamover_audit_extra=True, **common), name="extra")
    assert extra.rc != 0
    assert extra.report["audit_extra"]["count"] == 1
    with open(extra.report["audit_extra"]["list"]) as handle:
        assert [json.loads(line)["path"] for line in handle] == ["not/in/source"]
    assert "extra at the destination (not in the source): 1" in extra.stdout
    refused = playbook(_vars(src, dest, shared, "resume", "rclone", datamover_audit=True,
                             **common), name="refused")
    assert refused.rc != 0 and "use a new datamover_run_id" in refused.stdout


def test_rsync_audit_names_what_the_destination_has_beyond_the_source(tmp_path, playbook):
    src, shared, dst = tmp_path / "src", tmp_path / "shared", tmp_path / "dst"
    sample_tree(str(src), files=60, big_files=0)
    assert playbook(_vars(src, dst, shared, "run", "rsync"), name="run").rc == 0
    (dst / "left-over").mkdir()
    (dst / "left-over" / "old.txt").write_bytes(b"old")
    clean = playbook(_vars(src, dst, shared, "plain", "rsync", datamover_audit=True),
                     name="plain")
    assert clean.rc == 0, clean.stdout[-3000:]  # without audit_extra, extras are not looked for
    assert clean.report["audit_extra"] is None
    extra = playbook(_vars(src, dst, shared, "extra", "rsync", datamover_audit=True,
                           datamover_audit_extra=True), name="extra")
    assert extra.rc != 0
    with open(extra.report["audit_extra"]["list"]) as handle:
        assert sorted(json.loads(line)["path"] for line in handle) == ["left-over",
                                                                       "left-over/old.txt"]
    assert extra.report["verification"]["audited_now"]["files"] == 60


def test_an_audit_since_a_run_checks_only_what_changed_since_it(tmp_path, playbook):
    """datamover_since on an audit: only the files changed or added since that run are
    compared (a damaged file that did not change in the source is not looked at; the full
    audit finds it), and nothing is written at the destination."""
    src, shared, dst = tmp_path / "src", tmp_path / "shared", tmp_path / "dst"
    sample_tree(str(src), files=60, big_files=0)
    assert playbook(_vars(src, dst, shared, "base", "rsync"), name="base").rc == 0
    names = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    changed, damaged = names[:3], names[-1]
    for rel in changed:  # the source moves on: other bytes, and a new mtime
        (src / rel).write_bytes(os.urandom((src / rel).stat().st_size + 7))
    (src / "new").mkdir()
    (src / "new" / "added.bin").write_bytes(os.urandom(100))
    _replace_file(str(dst / damaged))  # same size and mtime, other bytes: unchanged in the source
    before = {p.relative_to(dst).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
              for p in dst.rglob("*") if p.is_file()}

    since = playbook(_vars(src, dst, shared, "since-audit", "rsync", datamover_audit=True,
                           datamover_verify="checksum", datamover_since="base"), name="since")
    assert since.rc != 0
    assert _not_copied(shared, "since-audit") == sorted(
        [(rel, "other size") for rel in changed] + [("new/added.bin", "missing")])
    assert since.report["planned"]["files"] == len(changed) + 1  # only what changed
    assert "the destination does NOT hold the source" in since.stdout
    after = {p.relative_to(dst).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
             for p in dst.rglob("*") if p.is_file()}
    assert after == before  # an audit writes nothing

    full = playbook(_vars(src, dst, shared, "full-audit", "rsync", datamover_audit=True,
                          datamover_verify="checksum"), name="full")
    assert full.rc != 0
    assert (damaged, "other content") in _not_copied(shared, "full-audit")
