"""The AWX job templates as code (roles/awx_templates).

1. Structure: every survey question is a variable of roles/migrate/meta/argument_specs.yml with
   the same type, choices and required flag, and the same default.
2. The real awx.awx modules (from the `ansible` package) run the role through ansible-runner
   against a FAKE AWX API (tests/lab/fake_awx.py): what reaches the API is checked, including
   the surveys as AWX receives them, and a second run changes nothing.
"""
from __future__ import annotations

import os

import pytest
import yaml

from tests.conftest import COLLECTIONS, ROOT, VENV_BIN, run_playbook
from tests.lab.fake_awx import TOKEN, FakeAwx

ARGSPEC = os.path.join(ROOT, "roles", "migrate", "meta", "argument_specs.yml")
TEMPLATES_VARS = os.path.join(ROOT, "roles", "awx_templates", "vars", "main.yml")
# AWX survey types that can carry each argument_specs type (surveys have no list or bool).
SURVEY_TYPES = {"str": {"text", "textarea", "multiplechoice"}, "path": {"text"},
                "int": {"integer"}, "float": {"float"}, "list": {"text"}, "raw": {"multiplechoice"},
                "bool": {"multiplechoice"}}
# The run-id templates need a run id; for a migration it is optional (a new id is generated).
STRICTER_REQUIRED = {"datamover_run_id"}


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _options():
    with open(ARGSPEC) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def _templates_vars():
    with open(TEMPLATES_VARS) as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader plus !unsafe


def problems_of(spec, options, run_id_required=False):
    """Every way the survey ``spec`` disagrees with the migrate role's argument_specs."""
    out = []
    for q in spec:
        name = q["variable"]
        opt = options.get(name)
        if opt is None:
            out.append("%s: not a variable of roles/migrate" % name)
            continue
        kind = opt.get("type", "str")
        if q["type"] not in SURVEY_TYPES[kind]:
            out.append("%s: survey type %s cannot carry %s" % (name, q["type"], kind))
        if "choices" in opt and (q["type"] != "multiplechoice" or list(q["choices"]) != opt["choices"]):
            out.append("%s: choices %s, argument_specs %s" % (name, q.get("choices"), opt["choices"]))
        if kind in ("raw", "bool") and q["type"] == "multiplechoice":
            missing = [c for c in q["choices"] if c not in opt.get("description", "")]
            if missing:
                out.append("%s: choices %s are not documented in argument_specs" % (name, missing))
        required = bool(opt.get("required"))
        if run_id_required and name in STRICTER_REQUIRED:
            required = True
        if bool(q["required"]) != required:
            out.append("%s: required=%s, argument_specs says %s" % (name, q["required"], required))
        if not opt.get("required") and "default" in opt and name not in STRICTER_REQUIRED:
            want = opt["default"]
            if kind == "list":
                want = ",".join(want)
            elif kind in ("raw", "bool"):
                want = str(want).lower()
            if q.get("default") != want:
                out.append("%s: default %r, argument_specs %r" % (name, q.get("default"), want))
    return out


def test_migrate_survey_matches_argument_specs():
    data, options = _templates_vars(), _options()
    spec = data["__awx_templates_migrate_survey"]["spec"]
    assert problems_of(spec, options) == []
    asked = {q["variable"] for q in spec}
    # the list: source, destination, tool, slots, partition files/bytes, excludes, run id, verify
    assert {"datamover_source", "datamover_destination", "datamover_tool", "datamover_slots",
            "datamover_partition_files", "datamover_partition_bytes", "datamover_excludes",
            "datamover_run_id", "datamover_verify"} <= asked
    # every required variable of the job is asked
    assert {n for n, o in options.items() if o.get("required")} <= asked


def test_run_id_survey_matches_argument_specs():
    spec = _templates_vars()["__awx_templates_run_questions"]
    assert [q["variable"] for q in spec] == ["datamover_shared_dir", "datamover_run_id"]
    assert problems_of(spec, _options(), run_id_required=True) == []


def test_the_checker_catches_drift():
    options = _options()
    good = _templates_vars()["__awx_templates_migrate_survey"]["spec"]
    drifted = [dict(q) for q in good]
    for q in drifted:
        if q["variable"] == "datamover_tool":
            q["choices"] = ["rclone", "rsync", "s5cmd"]
        if q["variable"] == "datamover_slots":
            q["default"] = 4
        if q["variable"] == "datamover_source":
            q["required"] = False
    drifted.append({"variable": "datamover_tpyo", "type": "text", "required": False})
    found = problems_of(drifted, options)
    assert len(found) == 4, found


@pytest.fixture
def awx():
    fake = FakeAwx().start()
    fake.add("inventories", name="datamover workers", organization=1)
    machine = fake.add("credential_types", name="Machine", kind="ssh", inputs={}, injectors={})
    fake.add("credentials", name="workers ssh", credential_type=machine["id"], organization=1, inputs={})
    yield fake
    fake.stop()


def _configure(tmp_path, awx, name, cmdline=None, **extra):
    extravars = {"awx_templates_scm_url": "https://git.example.invalid/storage/datamover.git",
                 "awx_templates_ee_image": "registry.example.invalid/datamover-ee:0.1.0",
                 "awx_templates_inventory": "datamover workers",
                 "awx_templates_machine_credential": "workers ssh",
                 "awx_templates_shared_dir": "/lst/datamover"}
    extravars.update(extra)
    env = {"CONTROLLER_HOST": awx.url, "CONTROLLER_OAUTH_TOKEN": TOKEN, "CONTROLLER_VERIFY_SSL": "false"}
    if cmdline is None:
        return run_playbook(tmp_path, extravars, playbook="playbooks/awx_templates.yml", envvars=env,
                            inventory="localhost,", name=name)
    import ansible_runner
    private = tmp_path / name
    private.mkdir()
    env.update({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""), "ANSIBLE_NOCOLOR": "1"})
    runner = ansible_runner.run(private_data_dir=str(private), project_dir=ROOT, inventory="localhost,",
                                playbook=os.path.join(ROOT, "playbooks", "awx_templates.yml"),
                                extravars=extravars, envvars=env, cmdline=cmdline, quiet=True, timeout=300)
    runner.stdout_text = runner.stdout.read()
    return runner


def test_templates_against_a_fake_awx(tmp_path, awx):
    first = _configure(tmp_path, awx, "first")
    assert first.rc == 0, first.stdout[-4000:]
    names = sorted(o["name"] for o in awx.store["job_templates"].values())
    assert names == ["datamover | migrate", "datamover | provision", "datamover | resume",
                     "datamover | status", "datamover | stop"]
    project = awx.find("projects", "datamover")
    ee = awx.find("execution_environments", "datamover-ee")
    assert project["scm_url"] == "https://git.example.invalid/storage/datamover.git"
    assert project["default_environment"] == ee["id"] and ee["image"].endswith("datamover-ee:0.1.0")
    migrate = awx.find("job_templates", "datamover | migrate")
    assert migrate["playbook"] == "playbooks/awx_migrate.yml" and migrate["survey_enabled"] is True
    assert migrate["inventory"] == awx.find("inventories", "datamover workers")["id"]
    assert migrate["execution_environment"] == ee["id"] and migrate["project"] == project["id"]
    assert awx.find("job_templates", "datamover | provision")["survey_enabled"] is False

    # The surveys as AWX received them still match the role's argument_specs.
    options = _options()
    survey = awx.survey("datamover | migrate")
    assert problems_of(survey["spec"], options) == []
    shared = [q for q in survey["spec"] if q["variable"] == "datamover_shared_dir"][0]
    assert shared["default"] == "/lst/datamover"
    for name in ("status", "stop", "resume"):
        assert problems_of(awx.survey("datamover | " + name)["spec"], options, run_id_required=True) == []

    # The credential type: the secret is a file, its path the only thing in the environment.
    kind = awx.find("credential_types", "rclone remote (datamover)")
    assert kind["kind"] == "cloud"
    assert kind["inputs"]["fields"][0]["secret"] is True
    assert kind["injectors"] == {"file": {"template.rclone": "{{ rclone_conf }}"},
                                 "env": {"DATAMOVER_RCLONE_CONFIG_FILE": "{{ tower.filename.rclone }}"}}
    assert "extra_vars" not in kind["injectors"]
    ssh = awx.find("credentials", "workers ssh")["id"]
    assert awx.associated("datamover | migrate") == [ssh]

    # Idempotent: the second run writes nothing.
    writes = list(awx.writes)
    second = _configure(tmp_path, awx, "second")
    assert second.rc == 0, second.stdout[-4000:]
    assert "changed=0" in second.stdout and awx.writes == writes
    checked = _configure(tmp_path, awx, "second-check", cmdline="--check")
    assert checked.rc == 0 and "changed=0" in checked.stdout_text and awx.writes == writes

    # An rclone credential goes to migrate and resume only.
    rclone = awx.add("credentials", name="oci keys", credential_type=kind["id"], organization=1,
                     inputs={"rclone_conf": "[s3]\ntype = s3\nsecret_access_key = hunter2\n"})
    third = _configure(tmp_path, awx, "third", awx_templates_rclone_credential="oci keys")
    assert third.rc == 0, third.stdout[-4000:]
    assert awx.associated("datamover | migrate") == sorted([ssh, rclone["id"]])
    assert awx.associated("datamover | resume") == sorted([ssh, rclone["id"]])
    assert awx.associated("datamover | status") == [ssh]
    assert "hunter2" not in third.stdout


def test_unknown_inventory_fails_with_awx_message(tmp_path, awx):
    run = _configure(tmp_path, awx, "bad", awx_templates_inventory="nope")
    assert run.rc != 0
    assert "returned 0 items, expected 1" in run.stdout


def test_check_mode_writes_nothing(tmp_path, awx):
    before = {k: dict(v) for k, v in awx.store.items()}
    run = _configure(tmp_path, awx, "check", cmdline="--check")
    assert run.rc == 0, run.stdout_text[-4000:]
    assert "changed=" in run.stdout_text and "changed=0" not in run.stdout_text
    assert awx.writes == [] and {k: dict(v) for k, v in awx.store.items()} == before
