"""Which multipart uploads the end of a run aborts: only its own (rclone's listing and
cleanup faked here; tests/integration/test_faults.py runs them against SeaweedFS)."""
from __future__ import annotations

import json
import time

from ansible_collections.datamover.fleet.plugins.module_utils.tools import rclone as rc


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _fake(monkeypatch, uploads):
    """rclone backend list-multipart-uploads / cleanup over an in-memory store."""
    calls = []

    def run_quiet(argv, **kw):
        calls.append(argv)
        if "list-multipart-uploads" in argv:
            return 0, json.dumps({"b": [{"Key": k, "UploadId": u, "Initiated": _iso(t)}
                                        for k, u, t in uploads]}).encode(), b""
        if "cleanup" in argv:
            age = float(argv[argv.index("-o") + 1].split("=")[1].rstrip("s"))
            key = argv[-1].split(":", 1)[1].split("/", 1)[1].rstrip("/")
            cutoff = time.time() - age
            uploads[:] = [x for x in uploads if not (x[0].startswith(key) and x[2] < cutoff)]
            return 0, b"", b""
        raise AssertionError(argv)
    monkeypatch.setattr(rc, "run_quiet", run_quiet)
    return calls


def test_only_the_runs_own_uploads_are_aborted(monkeypatch):
    now = time.time()
    started = now - 100
    uploads = [("p/big/a.bin", "u1", now - 50),          # ours: aborted
               ("p/big/c.bin", "u2", now - 200),         # before the run: kept
               ("p/other.bin", "u3", now - 50),          # not a file of the plan: kept
               ("p2/big/a.bin", "u4", now - 50),         # beside the destination: not ours
               ("p/big/d.bin", "u5", now - 50),          # ours, but another writer's
               ("p/big/d.bin.part", "u6", now - 200)]    # upload starts with its name: kept
    _fake(monkeypatch, uploads)
    tool = rc.RcloneTool("/src", "remote:b/p", binary="rclone")
    out = tool.abort_own_uploads(started, lambda: {b"big/a.bin", b"big/c.bin", b"big/d.bin"})
    assert [a["key"] for a in out["aborted"]] == ["p/big/a.bin"]
    kept = {k["key"]: k["reason"] for k in out["kept"]}
    assert set(kept) == {"p/big/c.bin", "p/other.bin", "p/big/d.bin", "p/big/d.bin.part"}
    assert "before this run" in kept["p/big/c.bin"]
    assert "not a file of this run" in kept["p/other.bin"]
    assert "rclone aborts by name prefix" in kept["p/big/d.bin"]
    assert sorted(u[1] for u in uploads) == ["u2", "u3", "u4", "u5", "u6"]


def test_nothing_left_nothing_read(monkeypatch):
    calls = _fake(monkeypatch, [])
    tool = rc.RcloneTool("/src", "remote:b", binary="rclone")

    def never():
        raise AssertionError("the plan is read only when an upload may be the run's")
    out = tool.abort_own_uploads(time.time(), never)
    assert out == {"checked": True, "listed": 0, "aborted": [], "kept": []}
    assert calls[0][-1] == "remote:b/"


def test_times_of_s3_and_oci():
    assert rc._epoch("2026-11-26T03:53:20Z") == 1795665200.0
    assert rc._epoch("2026-11-26T03:53:20.500Z") == 1795665200.5
    assert rc._epoch("2026-11-26T04:53:20+01:00") == 1795665200.0
    assert rc._epoch("yesterday") is None and rc._epoch(None) is None
