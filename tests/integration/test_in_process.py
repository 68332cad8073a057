"""Preflight and worker on a host that is the controller run in the controller's own process
(plugin_utils/in_process.py), and give what the module gives: the same result, the same
refusal, the same masking of a secret. A task environment (or another Python, become, check
mode) sends them to the module as before, whose payload Ansible's debug log names."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_playbook

SECRET = "TopSecret4711"

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: preflight of a source that is missing, named with a credential in it
      datamover.fleet.preflight:
        stage: check
        shared_dir: {shared}
        run_id: in-process
        source: {src}/{secret}-missing
        destination: ":s3,provider=Other,secret_access_key={secret}:bucket/x"
        tool: rclone
      register: refused
      ignore_errors: true
      environment: "{{{{ datamover_task_env }}}}"
    - name: preflight of a good source and destination
      datamover.fleet.preflight:
        stage: check
        shared_dir: {shared}
        run_id: in-process
        source: {src}
        destination: {dst}
        tool: rsync
        probe: false
      register: passed
      environment: "{{{{ datamover_task_env }}}}"
    - name: the results
      ansible.builtin.copy:
        content: "{{{{ {{'refused': refused, 'passed': passed}} | to_json }}}}"
        dest: {out}
        mode: "0600"
"""


def _run(tmp_path, env):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    for path in (src, dst, shared):
        path.mkdir(exist_ok=True)
    (src / "a").write_text("a")
    out = tmp_path / ("out-%d.json" % len(env))
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(shared=shared, src=src, dst=dst, secret=SECRET, out=out))
    run = run_playbook(tmp_path, {"datamover_task_env": env}, playbook=str(play),
                       name="runner-%d" % len(env), envvars={"ANSIBLE_DEBUG": "1"})
    assert run.rc == 0, run.stdout[-3000:]
    # (Ansible's debug log shows a task's arguments as given: the secret, in both cases)
    # Ansible's debug log names the payload of each module it executes
    built = "datamover.fleet.plugins.modules.preflight-ZIP" in run.stdout
    return json.loads(out.read_text()), built


@pytest.mark.parametrize("env, here", [({}, True), ({"DATAMOVER_TEST_ENV": "1"}, False)],
                         ids=["in-process", "module"])
def test_preflight_gives_the_module_s_result_in_process_or_not(tmp_path, env, here):
    res, built = _run(tmp_path, env)
    refused, passed = res["refused"], res["passed"]
    assert built is not here
    assert refused["failed"] is True
    assert refused["msg"].startswith("preflight failed on this host: ")
    # the secret in the source path is masked, as AnsibleModule masks no_log values
    assert SECRET not in json.dumps(refused) and "********-missing" in refused["msg"]
    assert refused["problems"] and all(SECRET not in p for p in refused["problems"])
    assert not passed.get("failed") and passed["problems"] == []
    assert passed["tool_binary"].endswith("/rsync") and passed["run_id"] == "in-process"
