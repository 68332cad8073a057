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


@pytest.mark.parametrize("role", ROLES)
def test_readme_lists_every_option(role):
    text = _readme(role)
    assert text.startswith("# datamover.fleet.%s\n" % role)
    missing = sorted(o for o in _options(role) if "`%s`" % o not in text
                     and not re.search(r"`%s` / `" % re.escape(o), text))
    assert missing == []


def test_migrate_readme_table_is_the_argument_spec():
    rows = re.findall(r"^\| `(datamover_[a-z_]+)` \|", _readme("migrate"), re.M)
    assert len(rows) == len(set(rows))
    assert set(rows) == _options("migrate")
