"""docs/variables.md is the complete variable reference: every datamover_* name the roles and
playbooks use has a row, every row names something they use, every default is the role's,
every option of the documented roles' argument specs is there with its type, and the "on
resume" column says what the run directory's code does with each plan option."""
from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import META_KEYS, PLANNING_KEYS
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import (
    FIXED_KEYS,
    IDENTITY_KEYS,
    MUTABLE_KEYS,
)
from tests.conftest import ROOT

REFERENCE = os.path.join(ROOT, "docs", "variables.md")
# Roles whose every variable is in the reference (the others document theirs in their README).
DOCUMENTED_ROLES = ("migrate", "awx_job", "awx_templates")
NAME_RE = re.compile(r"\bdatamover_[a-z0-9_]*[a-z0-9]\b")
ROW_RE = re.compile(r"^\| `([a-z][a-z0-9_]*)` \|")
# Refused on resume besides run.json's identity keys (RunDir.identity_problems): the kind of
# pass, another datamover_since, and what the first execution made the run with.
REFUSED_BESIDES_IDENTITY = ("audit", "plan_only", "since") + tuple(k for k, _d in FIXED_KEYS)
# Crawl-only options that run.json keeps under "partitioning" (planning.run_meta), refused on
# resume; the others of PLANNING_KEYS are not recorded (threads) or not a variable
# (fleet_slots, from the slots).
FIXED_PLANNING_KEYS = ("engine", "partition_files", "partition_bytes")


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _tables():
    """[(header cells, {name: {column: cell}})] of docs/variables.md's tables."""
    with open(REFERENCE, encoding="utf-8") as handle:
        lines = handle.read().replace("\\|", "\u2502").splitlines()
    tables, header, rows = [], None, None
    for line in lines + [""]:
        if line.startswith("|"):
            if header is None:
                header, rows = _cells(line), {}
            elif not re.match(r"^\|[-| ]+\|$", line):
                cells = _cells(line)
                match = ROW_RE.match(line)
                if match:
                    assert match.group(1) not in rows, "two rows for %s" % match.group(1)
                    rows[match.group(1)] = dict(zip(header, cells))
        elif header is not None:
            tables.append((header, rows))
            header = rows = None
    return tables


def _rows():
    """{name: {column: cell}} of every table row that names a variable; a name has one row."""
    out = {}
    for _header, rows in _tables():
        for name, row in rows.items():
            assert name not in out, "%s has two rows in docs/variables.md" % name
            out[name] = row
    return out


def _variable_rows():
    """The rows of the tables of variables (those with a default column)."""
    return {name: row for header, rows in _tables() if "default" in header
            for name, row in rows.items()}


def _sources():
    """The files whose variables the reference documents: roles' YAML and templates, playbooks."""
    paths = glob.glob(os.path.join(ROOT, "roles", "**", "*.yml"), recursive=True)
    paths += glob.glob(os.path.join(ROOT, "roles", "*", "templates", "**", "*"), recursive=True)
    paths += glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
    return sorted(p for p in paths if os.path.isfile(p))


def _used():
    """{datamover_* name: [files using it]} over the roles and playbooks."""
    used = {}
    for path in _sources():
        with open(path, encoding="utf-8") as handle:
            for name in NAME_RE.findall(handle.read()):
                used.setdefault(name, []).append(os.path.relpath(path, ROOT))
    return used


def _all_text():
    text = []
    for path in _sources():
        with open(path, encoding="utf-8") as handle:
            text.append(handle.read())
    return "\n".join(text)


def _defaults(role):
    path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _spec_options(role):
    """{option: spec} over every entry point of the role's argument spec."""
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        specs = yaml.safe_load(handle)["argument_specs"]
    out = {}
    for entry in specs.values():
        out.update(entry.get("options") or {})
    return out


def _backticked(cell):
    """The YAML in a cell that is one backtick span, or None."""
    match = re.match(r"^`([^`]*)`$", cell)
    return yaml.safe_load(match.group(1)) if match else None


def test_every_datamover_name_of_the_roles_and_playbooks_is_documented():
    rows = _rows()
    missing = {name: sorted(set(files)) for name, files in _used().items() if name not in rows}
    assert not missing, "\n".join(
        ["not in docs/variables.md (add a row to the table of its group; names the roles set "
         "themselves go in 'Set by the roles and playbooks, not inputs'):"]
        + ["  %s (used in %s)" % (name, ", ".join(files)) for name, files in sorted(missing.items())])


def test_every_row_names_something_the_roles_or_playbooks_use():
    text = _all_text()
    stale = sorted(name for name in _rows() if not re.search(r"\b%s\b" % name, text))
    assert not stale, ("rows of docs/variables.md naming a variable no role, template or playbook "
                       "uses (remove them): %s" % ", ".join(stale))


@pytest.mark.parametrize("role", DOCUMENTED_ROLES)
def test_defaults_are_the_roles(role):
    rows = _variable_rows()
    missing = sorted(set(_defaults(role)) - set(rows))
    assert not missing, "roles/%s/defaults/main.yml variables not in docs/variables.md: %s" % (
        role, ", ".join(missing))
    wrong = ["%s: docs/variables.md says %s, roles/%s/defaults/main.yml has %r"
             % (name, rows[name]["default"], role, value)
             for name, value in sorted(_defaults(role).items())
             if _backticked(rows[name]["default"]) != value
             or not rows[name]["default"].startswith("`")]
    assert not wrong, "\n".join(wrong)


def test_every_documented_default_of_any_role_is_that_roles():
    """A row for a variable of another role (one added later) must agree with it too."""
    rows = _variable_rows()
    wrong = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "defaults", "main.yml"))):
        role = os.path.basename(os.path.dirname(os.path.dirname(path)))
        for name, value in _defaults(role).items():
            if name in rows and _backticked(rows[name]["default"]) != value:
                wrong.append("%s: docs/variables.md says %s, roles/%s/defaults/main.yml has %r"
                             % (name, rows[name]["default"], role, value))
    assert not wrong, "\n".join(wrong)


def _spec_type(spec):
    kind = spec.get("type", "str")
    if spec.get("elements"):
        kind += "[%s]" % spec["elements"]
    if spec.get("choices"):
        kind += " (%s)" % ", ".join("`%s`" % c for c in spec["choices"])
    return kind


@pytest.mark.parametrize("role", DOCUMENTED_ROLES)
def test_argument_spec_options_are_documented_with_their_type_and_default(role):
    rows, defaults = _variable_rows(), _defaults(role)
    problems = []
    for name, spec in sorted(_spec_options(role).items()):
        if name not in rows:
            problems.append("%s (roles/%s/meta/argument_specs.yml) is not in docs/variables.md"
                            % (name, role))
            continue
        if rows[name]["type"] != _spec_type(spec):
            problems.append("%s: docs/variables.md's type is %s, the spec's %s"
                            % (name, rows[name]["type"], _spec_type(spec)))
        # required by one entry point, with a default in another role (datamover_run_id: awx_job's
        # status of a run, migrate's new run): the row gives the default and says so
        if spec.get("required") and not any(name in _defaults(r) for r in DOCUMENTED_ROLES):
            if rows[name]["default"] != "required":
                problems.append("%s is required (no default): docs/variables.md says %s"
                                % (name, rows[name]["default"]))
        elif "default" in spec and spec["default"] != defaults.get(name):
            problems.append("%s: roles/%s/meta/argument_specs.yml's default %r is not "
                            "defaults/main.yml's %r" % (name, role, spec["default"],
                                                        defaults.get(name)))
    assert not problems, "\n".join(problems)


def plan_variables():
    """[(plan option, a variable the migrate role gives it)] (tasks/dispatch.yml); an option
    made of a mapping (estimate) takes several variables."""
    with open(os.path.join(ROOT, "roles", "migrate", "tasks", "dispatch.yml"), encoding="utf-8") as handle:
        task = yaml.safe_load(handle)[0]
    out = []
    for key, template in task["vars"]["datamover_plan"].items():
        for text in template.values() if isinstance(template, dict) else [template]:
            match = re.match(r"^\{\{ (datamover_[a-z0-9_]+)", text)
            if match:
                out.append((key, match.group(1)))
    return out


def _expected_resume(key):
    if key in IDENTITY_KEYS or key in REFUSED_BESIDES_IDENTITY or key in FIXED_PLANNING_KEYS:
        return "refused"
    if key in MUTABLE_KEYS:
        return "recorded"
    assert key not in META_KEYS, "%s: recorded in run.json, neither refused nor changeable" % key
    return "per execution"


def test_on_resume_column_is_what_run_json_does():
    rows = _variable_rows()
    with open(REFERENCE, encoding="utf-8") as handle:
        vocabulary = set(re.findall(r"^\| (refused|recorded|per execution|-) \|", handle.read(), re.M))
    assert vocabulary == {"refused", "recorded", "per execution", "-"}, (
        "docs/variables.md's 'on resume' table must define each value")
    unknown = sorted(n for n, row in rows.items() if row["on resume"] not in vocabulary)
    assert not unknown, "on resume must be one of %s: %s" % (sorted(vocabulary), unknown)
    plan = plan_variables()
    assert {key for key, _var in plan} >= set(IDENTITY_KEYS) | set(MUTABLE_KEYS) - {
        "multipart", "secrets"}
    wrong = ["%s (plan option %s): docs/variables.md says %r, the run directory's code does %r"
             % (var, key, rows.get(var, {}).get("on resume"), _expected_resume(key))
             for key, var in sorted(plan)
             if rows.get(var, {}).get("on resume") != _expected_resume(key)]
    assert not wrong, "\n".join(wrong)
    # what the plan does not carry is read by each execution (or names the run)
    others = sorted(name for name in _spec_options("migrate") if name not in {v for _k, v in plan}
                    and name in rows and rows[name]["on resume"] not in ("per execution", "-"))
    assert not others, "not in run.json, so 'per execution' (or '-'): %s" % others


def test_the_migrate_role_readme_table_has_the_defaults():
    """roles/migrate/README.md's table (the role's page in Galaxy) repeats type and default:
    they must be the role's."""
    with open(os.path.join(ROOT, "roles", "migrate", "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    defaults, wrong = _defaults("migrate"), []
    for name, kind, cell in re.findall(r"^\| `(datamover_[a-z0-9_]+)` \| ([^|]+) \| (.+) \|$", text, re.M):
        first = re.match(r"^`([^`]*)`", cell)
        if name not in defaults:
            if not cell.startswith("**required**"):
                wrong.append("%s has no default: roles/migrate/README.md says %s" % (name, cell))
        elif first is None or yaml.safe_load(first.group(1)) != defaults[name]:
            wrong.append("%s: roles/migrate/README.md says %s, defaults/main.yml has %r"
                         % (name, cell, defaults[name]))
    assert not wrong, "\n".join(wrong)
