"""Hostile options, overlapping paths and bad tunables through the real migrate.yml: refused
before anything moves, and nothing left behind."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.integration.test_migrate_local import _vars
from tests.lab.trees import diff_trees, sample_tree


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files)


def test_remove_source_files_is_refused_and_nothing_is_written(tmp_path, playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=50, big_files=0)
    before = _listing(str(src))
    run = playbook(_vars(src, dst, shared, datamover_tool_options=["-v", "--remove-source-files"],
                         datamover_run_id="hostile"))
    assert run.rc != 0
    assert "rsync --remove-source-files is refused: datamover copies and verifies" in run.stdout
    assert _listing(str(src)) == before
    assert not dst.exists()
    assert not shared.exists() or os.listdir(shared) == []


def test_shared_dir_inside_the_source_is_left_out(tmp_path, playbook):
    src, dst = tmp_path / "src", tmp_path / "dst"
    sample_tree(str(src / "data"), files=40, big_files=0)
    shared = src / "fpsync"
    run = playbook(_vars(src, dst, shared, datamover_run_id="inside"))
    assert run.rc == 0, run.stdout[-3000:]
    assert not (dst / "fpsync").exists()
    assert diff_trees(src / "data", dst / "data") == []
    assert run.report["excluded_automatically"]["samples"][0][0] == "fpsync"
    assert "the shared dir" in (shared / "inside" / "report.md").read_text()


def _playbook_without_dac_override(tmp_path, extravars, name):
    """migrate.yml as root without CAP_DAC_OVERRIDE/READ_SEARCH: a directory owned by nobody
    with mode 0700 is then unreadable, as it is for an ordinary user (see LAB.md)."""
    import json
    import subprocess
    import sys

    from tests.conftest import COLLECTIONS, ROOT
    caps = "-dac_override,-dac_read_search"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    varfile = tmp_path / (name + ".json")
    varfile.write_text(json.dumps(extravars))
    return subprocess.run(
        ["setpriv", "--bounding-set=" + caps, "--inh-caps=" + caps, "--",
         os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         "-i", os.path.join(ROOT, "inventories", "local"),
         os.path.join(ROOT, "playbooks", "migrate.yml"), "-e", "@" + str(varfile)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to make a directory unreadable")
def test_an_unreadable_directory_fails_the_run_unless_tolerated(tmp_path):
    import json
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src / "ok"), files=30, big_files=0)
    locked = src / "locked"
    sample_tree(str(locked), files=30, big_files=0)
    os.chown(str(locked), 65534, 65534)
    os.chmod(str(locked), 0o700)
    proc = _playbook_without_dac_override(
        tmp_path, _vars(src, dst, shared, datamover_run_id="strict"), "strict")
    assert proc.returncode != 0, proc.stdout[-3000:]
    with open(shared / "strict" / "report.json") as handle:
        rep = json.load(handle)
    assert rep["status"] == "failed" and rep["crawl_errors"]["count"] == 1
    assert rep["untolerated"] == {"unreadable": 1}
    assert "1 unreadable during the crawl" in proc.stdout and "datamover_tolerate" in proc.stdout
    assert diff_trees(src / "ok", dst / "ok") == []  # what could be read was still copied

    proc = _playbook_without_dac_override(
        tmp_path, _vars(src, tmp_path / "dst2", shared, datamover_run_id="lenient",
                        datamover_tolerate=["unreadable"]), "lenient")
    assert proc.returncode == 0, proc.stdout[-3000:]
    with open(shared / "lenient" / "report.json") as handle:
        rep = json.load(handle)
    assert rep["status"] == "succeeded" and rep["crawl_errors"]["count"] == 1
    assert "locked" in rep["crawl_errors"]["samples"][0][0]
    assert "NOT COPIED" in proc.stdout


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to make a file unreadable")
def test_an_unreadable_file_run_counts_what_was_copied(tmp_path):
    """One file copied and verified beside one the workers cannot read: the totals say 1 file,
    not 0 (issue 25, point 9)."""
    import json
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    src.mkdir()
    (src / "ok.txt").write_text("readable")
    locked = src / "locked.txt"
    locked.write_text("not for this user")
    os.chown(str(locked), 65534, 65534)
    os.chmod(str(locked), 0o600)
    proc = _playbook_without_dac_override(
        tmp_path, _vars(src, dst, shared, datamover_run_id="one-of-two"), "one-of-two")
    assert proc.returncode != 0, proc.stdout[-3000:]
    with open(shared / "one-of-two" / "report.json") as handle:
        rep = json.load(handle)
    assert rep["verified"]["files"] == 1 and rep["files"] == 1 and rep["bytes"] == 8
    assert "files 1, 8 B" in proc.stdout
    assert (dst / "ok.txt").read_text() == "readable"
