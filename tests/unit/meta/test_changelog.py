"""Changelog fragments are what antsibull-changelog reads: YAML, known sections, sentences."""
from __future__ import annotations

import glob
import os

import pytest
import yaml

from tests.conftest import ROOT

FRAGMENTS = sorted(glob.glob(os.path.join(ROOT, "changelogs", "fragments", "*.yml")))


def _sections():
    with open(os.path.join(ROOT, "changelogs", "config.yaml")) as handle:
        config = yaml.safe_load(handle)
    return {key for key, _title in config["sections"]} | {config["trivial_section_name"],
                                                           config["prelude_section_name"]}


@pytest.mark.parametrize("path", FRAGMENTS, ids=os.path.basename)
def test_fragment_is_yaml_with_known_sections(path):
    with open(path) as handle:
        fragment = yaml.safe_load(handle)
    assert isinstance(fragment, dict) and fragment
    assert set(fragment) <= _sections()
    for section, entries in fragment.items():
        if section == "release_summary":
            assert isinstance(entries, str)
            continue
        assert isinstance(entries, list) and entries, section
        assert all(isinstance(e, str) and e.strip() for e in entries), section
