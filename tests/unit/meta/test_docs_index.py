"""docs/README.md is the index of docs/: every page of the folder is listed there, and every
relative link of a page of docs/ points at a file that exists."""
from __future__ import annotations

import glob
import os
import re

from tests.conftest import ROOT

DOCS = os.path.join(ROOT, "docs")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _pages():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(DOCS, "*.md")))


def test_every_page_is_in_the_index():
    with open(os.path.join(DOCS, "README.md"), encoding="utf-8") as handle:
        index = handle.read()
    missing = [p for p in _pages() if p != "README.md" and "](%s)" % p not in index]
    assert missing == [], "add these pages to docs/README.md"


def test_relative_links_of_the_docs_resolve():
    broken = []
    for page in _pages():
        with open(os.path.join(DOCS, page), encoding="utf-8") as handle:
            for target in LINK.findall(handle.read()):
                if re.match(r"[a-z]+:", target):
                    continue  # http(s):, mailto:
                if not os.path.exists(os.path.normpath(os.path.join(DOCS, target))):
                    broken.append("%s -> %s" % (page, target))
    assert broken == []
