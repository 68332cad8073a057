"""docs/safety.md's table of bad inputs, every row run: refused with the documented message
by the documented check, and nothing written anywhere."""
from __future__ import annotations

import json
import os
import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.datamover.fleet.plugins.modules import preflight

from tests.conftest import ROOT, run_playbook
from tests.unit.helpers import new_run, write
from tests.unit.plugins.modules.utils import module_fails, module_ok

DOC = os.path.join(ROOT, "docs", "safety.md")
ROLE = os.path.join(ROOT, "roles", "migrate")
ROW_RE = re.compile(r"^\| (\d+) \| (.+?) \| `(.+?)` \| `(.+?)` \| (\w+) \| (.+?) \|$")


def _rows():
    rows = []
    with open(DOC) as handle:
        for line in handle:
            match = ROW_RE.match(line.strip())
            if match:
                number, what, variables, message, written, checked = match.groups()
                rows.append(pytest.param(json.loads(variables), message.replace("\\|", "|"),
                                         written, [c.strip() for c in checked.split(",")],
                                         id="%s-%s" % (number, re.sub(r"\W+", "-", what)[:40])))
    return rows


ROWS = _rows()


def test_the_table_is_complete():
    assert len(ROWS) >= 60
    numbers = []
    with open(DOC) as handle:
        numbers = [int(m.group(1)) for m in map(ROW_RE.match, map(str.strip, handle)) if m]
    assert numbers == list(range(1, len(numbers) + 1))  # every row parsed, none skipped


def _fill(value, places):
    if isinstance(value, str):
        return value.format(**places)
    if isinstance(value, list):
        return [_fill(v, places) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, places) for k, v in value.items()}
    return value


def _role(name):
    with open(os.path.join(ROLE, name)) as handle:
        return yaml.safe_load(handle)


def _argspec_errors(variables):
    spec = _role("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    params = {k: v for k, v in variables.items() if v is not None and k in spec}
    return ArgumentSpecValidator(spec).validate(params).error_messages


def _preflight_args(v):
    """roles/migrate/tasks/preflight.yml's mapping of the role's variables."""
    def num(key):
        return v["datamover_" + key]
    return dict(
        stage="check", nonce="n0nce", hosts=["h1"], host="h1", rendezvous_timeout=2,
        shared_dir=v["datamover_shared_dir"], run_id=v.get("datamover_run_id") or "table",
        source=v["datamover_source"], destination=v["datamover_destination"],
        tool=v["datamover_tool"], tool_path=v["datamover_tool_path"] or None,
        rclone_config=v["datamover_rclone_config"] or None,
        tool_options=v["datamover_tool_options"], slots=int(num("slots")),
        partition_files=int(num("partition_files")),
        partition_bytes=int(num("partition_bytes")), engine=v["datamover_partition_engine"],
        audit=bool(v["datamover_audit"]), plan_only=bool(v["datamover_plan_only"]),
        estimate={"prices": v["datamover_prices"],
                  "bytes_per_second": v["datamover_plan_bytes_per_second"],
                  "files_per_second": v["datamover_plan_files_per_second"]},
        excludes=v["datamover_excludes"], since=v.get("datamover_since") or None,
        tunables={k: num(k) for k in ("slots", "partition_files", "partition_bytes",
                                      "transfers", "crawl_threads", "retries", "backoff",
                                      "lease_seconds", "watch_interval", "timeout",
                                      "max_requests_per_second")})


def _listing(root):
    out = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("row_vars, message, written, checks", ROWS)
def test_bad_input(tmp_path, request, row_vars, message, written, checks):
    assert written == "nothing"
    area = tmp_path / "area"
    places = {"tmp": str(area), "src": str(area / "src"), "dst": str(area / "dst"),
              "shared": str(area / "shared")}
    for rel in ("a/one", "a/two", "b/three", "top"):
        write(os.path.join(places["src"], rel), b"data of " + rel.encode())
    write(os.path.join(places["tmp"], "file.txt"), b"not a directory")
    os.symlink(places["src"], os.path.join(places["tmp"], "src-link"))
    variables = dict(_role("defaults/main.yml"), datamover_source=places["src"],
                     datamover_destination=places["dst"], datamover_tool="rsync",
                     datamover_shared_dir=places["shared"], datamover_watch_interval=1)
    variables.update(_fill(row_vars, places))
    message = _fill(message, places)  # a message may name the row's paths
    if any("(S3)" in c for c in checks):
        s3 = request.getfixturevalue("s3")
        variables["datamover_rclone_config"] = s3.write_rclone_config(str(tmp_path / "rc.conf"))
    if "taken" in (variables.get("datamover_run_id"), variables.get("datamover_since")):
        # a run of another migration
        new_run(places["shared"], "taken", places["src"], str(area / "elsewhere"))
    if variables.get("datamover_run_id") in ("migrated", "audited"):  # this migration's runs
        new_run(places["shared"], variables["datamover_run_id"], places["src"], places["dst"],
                audit=variables["datamover_run_id"] == "audited")
    if "planned" in (variables.get("datamover_run_id"), variables.get("datamover_since")):
        new_run(places["shared"], "planned", places["src"], places["dst"], plan_only=True)
    before = _listing(str(area))

    said = []
    for check in checks:
        if check.startswith("argspec"):
            errors = _argspec_errors(variables)
            assert any(message in e for e in errors), errors
            said.append(check)
        elif check.startswith("preflight"):
            args = _preflight_args(variables)
            result = module_fails(preflight, args)
            # what the play does next: remove the canaries of a refused run
            module_ok(preflight, dict(args, stage="cleanup"))
            assert message in result["msg"], result["msg"]
            said.append(check)
        elif check.startswith("playbook"):
            extravars = {k: v for k, v in variables.items() if v is not None
                         and k.startswith("datamover_")}
            if row_vars.get("datamover_source", "") is None:
                extravars.pop("datamover_source", None)
            run = run_playbook(tmp_path, extravars, name="runner")
            out = run.stdout.replace("\n", " ")
            assert run.rc != 0, run.stdout[-3000:]
            assert " ".join(message.split()) in " ".join(out.split()), run.stdout[-3000:]
            said.append(check)
    assert said == checks
    assert _listing(str(area)) == before, "something was written"
