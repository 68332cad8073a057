"""Incremental passes and the mirror, end to end through migrate.yml (ansible-runner), against
real rsync and a real S3 server (SeaweedFS behind the request-counting proxy): a full run, then
change / add / delete some files; the incremental pass moves exactly those, the S3 pass makes
no listing beyond verifying what it moved, and the mirror deletes exactly the deleted ones,
refusing with a way forward when a guard fails."""
from __future__ import annotations

import os
import subprocess

from tests.lab.latency_proxy import LatencyProxy
from tests.lab.seaweed import rclone_binary
from tests.lab.trees import diff_trees, relative_files, sample_tree

CHANGE, ADD, DELETE = 20, 8, 6
HOSTS = 2  # inventories/local


def _listed_dirs(lines, prefix):
    """The directories (relative to the run's prefix) that LIST requests asked for."""
    from urllib.parse import parse_qs, urlsplit
    out = []
    for line in lines:
        method, target = line.split(" ")[:2]
        query = parse_qs(urlsplit(target).query)
        uploads = "uploads" in parse_qs(urlsplit(target).query, keep_blank_values=True)
        if method == "GET" and "prefix" in query and not uploads:
            out.append(query["prefix"][0][len(prefix) + 1:].rstrip("/"))
    return out


def _ancestors(paths):
    out = set()
    for path in paths:
        while path:
            path = os.path.dirname(path)
            out.add(path)
    return out


def _vars(src, dst, shared, run_id, tool="rsync", **extra):
    base = {"datamover_source": str(src), "datamover_destination": str(dst),
            "datamover_tool": tool, "datamover_shared_dir": str(shared),
            "datamover_run_id": run_id, "datamover_watch_interval": 2,
            "datamover_backoff": 0.2, "datamover_partition_files": 100}
    base.update(extra)
    return base


def mutate(src):
    """Change CHANGE files (half by size, half by mtime only), add ADD (some in a new
    directory), delete DELETE. Returns (moved, deleted) relpaths."""
    files = relative_files(src)
    changed, deleted = files[1:1 + CHANGE], files[-DELETE:]
    for i, rel in enumerate(changed):
        path = os.path.join(src, rel)
        if i % 2:
            with open(path, "ab") as handle:
                handle.write(b"more")
        else:
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10 ** 9))
    added = ["added/new-%d.txt" % i for i in range(ADD // 2)] + \
            [os.path.join(os.path.dirname(files[0]), "new-%d.txt" % i) for i in range(ADD // 2)]
    for rel in added:
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        with open(os.path.join(src, rel), "w") as handle:
            handle.write("new %s" % rel)
    for rel in deleted:
        os.unlink(os.path.join(src, rel))
    return sorted(changed + added), sorted(deleted)


def planned(shared, run_id):
    parts = os.path.join(str(shared), run_id, "parts")
    out = []
    for name in sorted(n for n in os.listdir(parts) if n.endswith(".manifest")):
        with open(os.path.join(parts, name), "rb") as handle:
            for rec in handle.read().split(b"\0"):
                if rec and not rec.startswith((b"D ", b"T ")):
                    out.append(os.fsdecode(rec.partition(b"\t")[2]))
    return sorted(out)


def plant_crawl_error(src):
    """A directory whose path is longer than PATH_MAX: unreadable even for root."""
    fd = os.open(str(src), os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(18):
            name = "deep" + "x" * 240
            os.mkdir(name, dir_fd=fd)
            new = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = new
    finally:
        os.close(fd)


def test_rsync_incremental_then_guarded_mirror(tmp_path, playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=600, big_files=0)
    full = playbook(_vars(src, dst, shared, "full"), name="full")
    assert full.rc == 0, full.stdout[-3000:]
    moved, deleted = mutate(str(src))

    inc = playbook(_vars(src, dst, shared, "inc", datamover_since="full"), name="inc")
    assert inc.rc == 0, inc.stdout[-3000:]
    assert planned(shared, "inc") == moved  # exactly the changes, nothing else
    rep = inc.report
    assert rep["status"] == "succeeded" and rep["files"] == len(moved)
    assert rep["verified"]["files"] == len(moved)
    assert rep["incremental"]["deleted"] == DELETE
    assert "mirror dry run: %d would be deleted" % DELETE in inc.stdout
    assert sorted(os.path.relpath(os.path.join(dst, p), dst)
                  for p in rep["incremental"]["samples"]["deleted"]) == deleted
    assert all(os.path.exists(os.path.join(dst, p)) for p in deleted)  # reported, not deleted

    # over the limit: refused, nothing deleted, and the message says how to proceed
    over = playbook(_vars(src, dst, shared, "final", datamover_since="inc",
                          datamover_mirror="true", datamover_max_delete=DELETE - 1,
                          datamover_max_delete_share=0.5), name="over")
    assert over.rc != 0
    assert "mirror refused, nothing deleted" in over.stdout
    assert "re-run with datamover_max_delete=%d" % DELETE in over.stdout
    assert all(os.path.exists(os.path.join(dst, p)) for p in deleted)

    # the same run id resumes with the limit raised: exactly the deleted ones go
    final = playbook(_vars(src, dst, shared, "final", datamover_since="inc",
                           datamover_mirror="true", datamover_max_delete=DELETE,
                           datamover_max_delete_share=0.5), name="final")
    assert final.rc == 0, final.stdout[-3000:]
    mirror = final.report["incremental"]["mirror"]
    assert mirror["applied"] == DELETE and sorted(mirror["deleted"]) == deleted
    assert diff_trees(src, dst) == []
    assert "mirror: %d deleted at the destination" % DELETE in final.stdout

    # a crawl error: the mirror refuses (unreadable entries would look deleted)
    os.unlink(os.path.join(src, moved[0]))
    plant_crawl_error(src)
    err = playbook(_vars(src, dst, shared, "after-error", datamover_since="final",
                         datamover_mirror="true"), name="err")
    assert err.rc != 0
    assert "crawl had 1 errors" in err.stdout and "fix them" in err.stdout
    assert os.path.exists(os.path.join(dst, moved[0]))


# What one host's preflight asks of the store: whether the bucket exists (rclone lsjson
# --stat: one LIST of the bucket's top level, one page), a probe object written (PUT, which
# proves the bucket again without a listing), looked at (2 HEAD) and deleted. It never
# creates the bucket.
PREFLIGHT = {"PUT": 1, "HEAD": 2, "DELETE": 1, "LIST": 1}


def test_s3_incremental_makes_no_listing_and_mirror_deletes_exactly(tmp_path, playbook, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    sample_tree(str(src), files=300, big_files=0)
    shared.mkdir()
    with LatencyProxy(s3.base + 3, delay=0.0, keep_lines=True) as proxy:
        conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"), port=proxy.port)
        dest = "dmtest:dmtest/%s" % tmp_path.name
        common = dict(tool="rclone", datamover_rclone_config=conf)
        full = playbook(_vars(src, dest, shared, "full", **common), name="full")
        assert full.rc == 0, full.stdout[-3000:]
        moved, deleted = mutate(str(src))

        proxy.reset_counts()
        proxy.lines.clear()
        inc = playbook(_vars(src, dest, shared, "inc", datamover_since="full", **common),
                       name="inc")
        counts = proxy.counts()
        (tmp_path / "requests-inc.txt").write_text("\n".join(proxy.lines))
        assert inc.rc == 0, inc.stdout[-3000:]
        assert planned(shared, "inc") == moved
        # one PUT per moved object; the preflight of each of the 2 hosts checks the bucket
        # exists, writes its probe and deletes it (PREFLIGHT, per host); nothing else
        assert counts.get("PUT", 0) == len(moved) + PREFLIGHT["PUT"] * HOSTS, counts
        assert counts.get("DELETE", 0) == PREFLIGHT["DELETE"] * HOSTS, counts
        assert counts.get("HEAD", 0) == PREFLIGHT["HEAD"] * HOSTS, counts
        # listings only of the directories that hold moved files (their verification)
        listed = _listed_dirs(proxy.lines, tmp_path.name)
        assert listed and len(listed) + PREFLIGHT["LIST"] * HOSTS == counts.get("LIST", 0), \
            (counts, listed)
        assert set(listed) <= _ancestors(moved), listed
        # and the end of the run looks for multipart uploads it left: one request
        assert counts.get("UPLOADS", 0) == 1, counts

        proxy.reset_counts()
        proxy.lines.clear()
        final = playbook(_vars(src, dest, shared, "final", datamover_since="inc",
                               datamover_mirror=True, datamover_max_delete=DELETE,
                               datamover_max_delete_share=0.5, **common), name="final")
        counts = proxy.counts()
        (tmp_path / "requests-final.txt").write_text("\n".join(proxy.lines))
        assert final.rc == 0, final.stdout[-3000:]
        assert final.report["incremental"]["mirror"]["applied"] == DELETE
        # rclone delete --files-from-raw: a HEAD and a DELETE per deleted object, no listing
        assert counts.get("DELETE", 0) == DELETE + HOSTS, counts
        assert counts.get("HEAD", 0) <= DELETE + PREFLIGHT["HEAD"] * HOSTS, counts
        assert counts.get("PUT", 0) == PREFLIGHT["PUT"] * HOSTS, counts
        assert counts.get("LIST", 0) == PREFLIGHT["LIST"] * HOSTS, counts  # none for deleting
        listing = subprocess.run([rclone_binary(), "--config", conf, "lsf", "-R", "--files-only",
                                  dest], capture_output=True, check=True).stdout
        assert sorted(os.fsdecode(n) for n in listing.split(b"\n") if n) == relative_files(str(src))
