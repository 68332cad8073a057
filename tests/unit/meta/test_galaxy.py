"""galaxy.yml: where the collection lives, and a build_ignore that matches the tree."""
from __future__ import annotations

import fnmatch
import os

import yaml

from tests.conftest import ROOT

# What the collection ships on purpose (everything else at these levels must be ignored).
SHIPPED = {"LICENSE", "README.md", "galaxy.yml", "meta", "plugins", "roles", "playbooks", "docs",
           "changelogs", "images", "inventories", "requirements.txt", "tests", "extensions",
           "bindep.txt"}  # bindep.txt: system packages of an EE (meta/execution-environment.yml)
SHIPPED_UNDER = {"tests": {"config.yml"}, "inventories": {"workers.ini.example"},
                 "extensions": set()}
# Made by make venv, the tests or tools; not in git.
GENERATED = {".venv", ".build", ".git", ".pytest_cache", ".ruff_cache", ".ansible",
             "__pycache__", "tests/output", "bench/out"}


def _galaxy():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        return yaml.safe_load(handle)


def _ignored(rel, patterns):
    return any(fnmatch.fnmatch(rel, pattern) for pattern in patterns)


def test_it_says_where_it_lives():
    galaxy = _galaxy()
    assert galaxy["repository"] == "https://github.com/datamover/fleet"
    assert galaxy["documentation"] == "https://github.com/datamover/fleet/tree/main/docs"
    assert galaxy["issues"] == "https://github.com/datamover/fleet/issues"
    assert "example.invalid" not in open(os.path.join(ROOT, "galaxy.yml")).read()


def test_every_entry_of_the_tree_ships_or_is_ignored():
    patterns = _galaxy()["build_ignore"]
    unclassified = []
    for name in sorted(os.listdir(ROOT)):
        if name in GENERATED or name in SHIPPED and name not in SHIPPED_UNDER:
            continue
        if name in SHIPPED_UNDER:
            for child in sorted(os.listdir(os.path.join(ROOT, name))):
                rel = "%s/%s" % (name, child)
                if not (child in SHIPPED_UNDER[name] or rel in GENERATED or child == "__pycache__"
                        or _ignored(rel, patterns)):
                    unclassified.append(rel)
        elif not _ignored(name, patterns):
            unclassified.append(name)
    assert unclassified == [], "ship these (SHIPPED here) or add them to build_ignore"


def test_every_ignore_pattern_matches_something_or_is_generated():
    stale = []
    for pattern in _galaxy()["build_ignore"]:
        if pattern in GENERATED or any(ch in pattern for ch in "*?["):
            continue
        if not os.path.lexists(os.path.join(ROOT, pattern)):
            stale.append(pattern)
    assert stale == [], "build_ignore names paths that are not in the tree"
