"""report: the report step reads the run directory; nothing it imports writes at the
destination (the end-of-run clean-up is run_cleanup's, its own step)."""
from __future__ import annotations

import ast
import os

from tests.conftest import ROOT

PREFIX = "ansible_collections.datamover.fleet.plugins."


def _imports(module):
    path = os.path.join(ROOT, "plugins", *module[len(PREFIX):].split(".")) + ".py"
    if not os.path.exists(path):
        path = path[:-3] + os.sep + "__init__.py"
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            found.add(node.module)
            for alias in node.names:  # "from pkg import module"
                if os.path.exists(os.path.join(ROOT, "plugins", *(node.module[len(PREFIX):].split(".")
                                                     + [alias.name + ".py"]))):
                    found.add(node.module + "." + alias.name)
    return found


def closure(module):
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imports(name))
    return seen


def test_the_report_imports_nothing_that_writes_at_the_destination():
    reached = closure(PREFIX + "module_utils.report.report")
    assert PREFIX + "module_utils.run.rundir" in reached  # the walk follows imports
    writers = sorted(m for m in reached if ".tools" in m or ".work." in m)
    assert not writers, writers


def test_run_report_module_takes_no_destination_options():
    from ansible_collections.datamover.fleet.plugins.modules import run_report
    assert "max_requests_per_second" not in run_report.DOCUMENTATION
    assert "rclone_config" not in run_report.DOCUMENTATION
