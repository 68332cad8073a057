"""docs/troubleshooting.md is keyed by the messages the play prints: every entry's heading
(``### `text` ``) must still occur verbatim in plugins/, roles/ or playbooks/, so that the index
cannot rot when a message is reworded. Python string literals split over lines and YAML folded
text are joined before searching; a heading holds no placeholder (%s, {}, {{ }})."""
from __future__ import annotations

import os
import re

from tests.conftest import ROOT

DOC = os.path.join(ROOT, "docs", "troubleshooting.md")
SEARCHED = ("plugins", "roles", "playbooks")
HEADING = re.compile(r"^### `(.+)`\s*$", re.M)
# the end of one Python string literal and the start of the next, across a line break:
# "...text " \n    "more..." reads as one string
JOIN_PY = re.compile(r"""(["'])\s*\n\s*[rbuf]?\1""")


def _headings():
    with open(DOC, encoding="utf-8") as handle:
        return HEADING.findall(handle.read())


def _corpus():
    texts = []
    for top in SEARCHED:
        for folder, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith((".py", ".yml", ".yaml")):
                    continue
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    text = handle.read()
                if name.endswith(".py"):
                    text = JOIN_PY.sub("", text)
                texts.append(re.sub(r"\s+", " ", text))  # YAML folded text: lines joined by a space
    return "\n".join(texts)


def test_the_index_has_enough_entries_and_no_placeholders():
    headings = _headings()
    assert len(headings) >= 25, headings
    assert len(set(headings)) == len(headings), "an entry is there twice"
    for text in headings:
        assert len(text) >= 10, text
        assert not re.search(r"%[sdr]|%\(|\{\{|\{\}|\{[a-z_]+\}", text), text


def test_every_message_of_the_index_is_still_printed():
    corpus = _corpus()
    missing = [text for text in _headings() if re.sub(r"\s+", " ", text) not in corpus]
    assert missing == [], "reworded or removed messages: update docs/troubleshooting.md"
