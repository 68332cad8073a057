"""meta/runtime.yml against the modules' documentation."""
from __future__ import annotations

import glob
import importlib
import os
import re

import pytest
import yaml

from tests.conftest import ROOT


def _runtime():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as handle:
        return yaml.safe_load(handle)


MODULE_FILES = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))


def _documentation_text(path):
    """The DOCUMENTATION of a module file, as text (without importing the module)."""
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    match = re.search(r'^DOCUMENTATION = r?"""(.*?)"""', source, re.S | re.M)
    assert match, "%s has no DOCUMENTATION" % path
    return match.group(1)


def _fragments(path):
    """The doc fragments a module extends: read from the text, so that a module whose
    documentation does not parse (see test_module_documentation_is_yaml) still counts."""
    match = re.search(r"^extends_documentation_fragment:\n((?:[ \t]+- .*\n)+)",
                      _documentation_text(path), re.M)
    return [line.strip()[2:].strip() for line in match.group(1).splitlines()] if match else []


def _modules_with_fragment(fragment):
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in MODULE_FILES
                  if fragment in _fragments(p))


def test_run_group_lists_exactly_the_modules_with_the_run_options():
    group = _runtime()["action_groups"]["run"]
    assert len(group) == len(set(group)), "a module is listed twice"
    expected = _modules_with_fragment("datamover.fleet.run")
    assert sorted(group) == expected
    # the job's own modules are there (the list is not empty by accident)
    assert {"partition", "worker", "run_status", "run_report", "preflight", "watch"} <= set(group)


def test_each_grouped_module_takes_the_run_options():
    from ansible_collections.datamover.fleet.plugins.module_utils.args_common import RUN_ARGS
    for name in _runtime()["action_groups"]["run"]:
        with open(os.path.join(ROOT, "plugins", "modules", name + ".py"), encoding="utf-8") as h:
            source = h.read()
        action = os.path.join(ROOT, "plugins", "action", name + ".py")
        plugin = importlib.import_module(
            "ansible_collections.datamover.fleet.plugins.action." + name) if os.path.exists(action) else None
        if hasattr(plugin, "ARGS"):  # an action plugin that declares its own spec
            assert all(plugin.ARGS.get(opt) == spec for opt, spec in RUN_ARGS.items()), name
        else:  # the module's spec (its action plugin, if any, runs it in process)
            assert "run_args(" in source, "%s does not build its spec with run_args()" % name


def test_requires_ansible_is_set():
    assert _runtime()["requires_ansible"].startswith(">=")


@pytest.mark.parametrize("path", [
    pytest.param(p, id=os.path.basename(p)) for p in MODULE_FILES])
def test_module_documentation_is_yaml(path):
    doc = yaml.safe_load(_documentation_text(path))
    assert doc["module"] == os.path.splitext(os.path.basename(path))[0]
    assert sorted(_fragments(path)) == sorted(doc.get("extends_documentation_fragment") or [])
