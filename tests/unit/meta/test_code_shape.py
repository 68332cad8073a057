"""The shape issue 24 set for plugins/: no function longer than 60 lines, and no import inside a
function (an import cycle is broken by moving code, not hidden in a function body)."""
from __future__ import annotations

import ast
import os

from tests.conftest import ROOT

LIMIT = 60


def _functions():
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield os.path.relpath(path, ROOT), node


def test_no_function_in_plugins_is_longer_than_the_limit():
    long = ["%s:%d %s (%d lines)" % (path, node.lineno, node.name, node.end_lineno - node.lineno + 1)
            for path, node in _functions() if node.end_lineno - node.lineno + 1 > LIMIT]
    assert not long, long


def test_no_import_inside_a_function():
    inner = ["%s:%d in %s" % (path, sub.lineno, node.name)
             for path, node in _functions()
             for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))]
    assert not inner, inner
