"""Every boolean variable of every role accepts the strings true/false/yes/no, as the command
line (-e) and AWX surveys give them: each use in a task is read through ``| bool``
(ansible-core 2.19 refuses a string as a conditional)."""
from __future__ import annotations

import glob
import os
import re

import yaml

from tests.conftest import ROOT


def _bool_options():
    out = []
    for spec in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role = spec.split(os.sep)[-3]
        with open(spec) as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        for entry in specs.values():
            out += [(role, name) for name, opt in (entry.get("options") or {}).items()
                    if opt.get("type") == "bool"]
    return sorted(set(out))


def _uses(name):
    """(file:line, text) of every use of ``name`` in an expression of a task, vars or
    template file of any role or playbook (names in task titles and messages are prose)."""
    kinds = tuple(os.sep + kind + os.sep for kind in ("tasks", "templates", "vars"))
    files = [f for f in glob.glob(os.path.join(ROOT, "roles", "*", "**", "*"), recursive=True)
             if os.path.isfile(f) and any(kind in f for kind in kinds)]
    files += glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
    found = []
    for path in files:
        with open(path, errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                text = line.strip()
                expression = text.startswith(("when:", "- ", "that:", "failed_when:")) \
                    or "{{" in text or "{%" in text
                if not expression or text.startswith("- name:"):
                    continue
                for match in re.finditer(r"\b%s\b(\s*\|\s*bool)?" % re.escape(name), text):
                    if not match.group(1) and not re.match(r"\s*:", text[match.end():]):
                        found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), number, text))
    return found


def test_every_boolean_role_variable_is_read_through_bool():
    options = _bool_options()
    assert len(options) >= 10
    unguarded = [use for _role, name in options for use in _uses(name)]
    assert unguarded == [], "a string 'false' from -e is true, or an error, here:\n" + \
        "\n".join(unguarded)
