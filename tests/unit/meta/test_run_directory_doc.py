"""docs/run-directory.md lists the run directory and report.json completely: every file name
rundir.py gives a path, and every top-level key of a report, so the listing cannot rot."""
from __future__ import annotations

import ast
import os
import re

from ansible_collections.datamover.fleet.plugins.module_utils.report.report import build_report
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from tests.conftest import ROOT

DOC = os.path.join(ROOT, "docs", "run-directory.md")
RUNDIR = os.path.join(ROOT, "plugins", "module_utils", "run", "rundir.py")
# A file or directory name, or a name's fixed prefix or suffix ("clock-", ".manifest").
NAME_RE = re.compile(r"^[A-Za-z.][A-Za-z0-9_.-]*$")


def _doc():
    with open(DOC, encoding="utf-8") as handle:
        return handle.read()


def _section(title):
    text = _doc()
    start = text.index("## %s\n" % title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def _run_dir_names():
    """The constant names rundir.py builds run-directory paths from: the arguments of
    ``self.p(...)``, ``self.tool_log_path(...)`` and ``os.path.join(...)`` and the SUBDIRS."""
    with open(RUNDIR, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    names = set(RunDir.SUBDIRS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("p", "join", "tool_log_path"):
            for arg in node.args:
                for const in ast.walk(arg):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str) \
                            and NAME_RE.match(const.value) and const.value != "._-":
                        names.add(const.value)
    return names


def test_the_run_directory_listing_names_every_file():
    names = _run_dir_names()
    assert {"run.json", "parts", "report.json", "not-copied.jsonl", ".manifest"} <= names
    listing = _section("The run directory")
    missing = sorted(n for n in names if n not in listing)
    assert not missing, ("files of the run directory (plugins/module_utils/run/rundir.py) not in "
                         "docs/run-directory.md's listing: %s" % ", ".join(missing))


def _report_keys(tmp_path):
    rundir = RunDir(str(tmp_path), "r1")
    rundir.create_or_check({"source": "/src", "destination": "/dst", "tool": "rsync",
                            "verify": "size"})
    rundir.write_plan({"parts": 0, "files": 0, "bytes": 0})
    return set(build_report(rundir))


def test_the_report_listing_names_every_top_level_key(tmp_path):
    keys = _report_keys(tmp_path)
    documented = set()
    for line in _section("report.json").splitlines():
        if line.startswith("| `"):
            documented.update(re.findall(r"`([a-z_]+)`", line.split(" | ")[0]))
    assert not sorted(keys - documented), (
        "report.json keys not in docs/run-directory.md: %s" % ", ".join(sorted(keys - documented)))
    assert not sorted(documented - keys), (
        "docs/run-directory.md lists report.json keys it does not have: %s"
        % ", ".join(sorted(documented - keys)))
