"""Each role's README mirrors its meta/argument_specs.yml: every option is listed, and the
variable table names no option the role does not take."""
from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

from tests.conftest import ROOT

ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
               for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def _options(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
        return set(yaml.safe_load(handle)["argument_specs"]["main"]["options"])


def _readme(role):
    with open(os.path.join(ROOT, "roles", role, "README.md"), encoding="utf-8") as handle:
        return handle.read()


def _mentioned(text):
    """Variable names in backticks, with the READMEs' shorthand for a sibling variable:
    "`rclone_archive_src` / `_url`" also names rclone_archive_url."""
    names = set(re.findall(r"`([a-z][a-z0-9_]*)`", text))
    for first, suffix in re.findall(r"`([a-z][a-z0-9_]*)` / `(_[a-z0-9_]+)`", text):
        names.update(first[:i] + suffix for i, ch in enumerate(first) if ch == "_")
    return names


@pytest.mark.parametrize("role", ROLES)
def test_readme_lists_every_option(role):
    text = _readme(role)
    assert text.startswith("# datamover.fleet.%s\n" % role)
    assert sorted(_options(role) - _mentioned(text)) == []


def test_migrate_readme_table_is_the_argument_spec():
    rows = re.findall(r"^\| `(datamover_[a-z_]+)` \|", _readme("migrate"), re.M)
    assert len(rows) == len(set(rows))
    assert set(rows) == _options("migrate")
