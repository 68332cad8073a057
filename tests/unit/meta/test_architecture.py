"""docs/architecture.md describes the layout as it is: every file of plugins/module_utils is
named in the row of its folder, and every folder it names exists."""
from __future__ import annotations

import os
import re

from tests.conftest import ROOT

MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")


def _rows():
    with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as handle:
        text = handle.read()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\| (`([a-z0-9_]+)/`|top level) \|", line)
        if match:
            rows[match.group(2) or ""] = line
    return rows


def test_every_module_utils_file_is_in_its_folders_row():
    rows = _rows()
    missing = []
    for folder, _dirs, files in os.walk(MODULE_UTILS):
        if "__pycache__" in folder:
            continue
        rel = os.path.relpath(folder, MODULE_UTILS)
        rel = "" if rel == "." else rel
        for name in files:
            if not name.endswith(".py") or name == "__init__.py":
                continue
            if rel == "oci":  # described as a whole: its files are named by what they hold
                continue
            if rel not in rows or "`%s`" % name not in rows[rel]:
                missing.append(os.path.join(rel, name))
    assert not missing, missing


def test_every_folder_the_page_names_exists():
    for folder in _rows():
        assert os.path.isdir(os.path.join(MODULE_UTILS, folder)), folder
