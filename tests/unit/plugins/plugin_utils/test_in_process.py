"""When a module's work may run in the controller's process, and that it then gives what the
module gives: validated arguments, the failure face, no_log values masked."""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError
from ansible_collections.datamover.fleet.plugins.plugin_utils.in_process import run_here, runs_here

HERE = sys.executable


class Templar:
    def template(self, value):
        return sys.executable if value == "{{ ansible_playbook_python }}" else value


def action(transport="local", become=False, environment=None, check_mode=False, async_val=0):
    return SimpleNamespace(
        _connection=SimpleNamespace(transport=transport),
        _play_context=SimpleNamespace(become=become), _templar=Templar(),
        _task=SimpleNamespace(environment=environment if environment is not None else [{}],
                              check_mode=check_mode, async_val=async_val))


def test_the_controller_itself_with_its_python_runs_here():
    assert runs_here(action(), {"ansible_python_interpreter": HERE})
    assert runs_here(action(transport="ansible.builtin.local"),
                     {"ansible_python_interpreter": "{{ ansible_playbook_python }}"})


@pytest.mark.parametrize("act, interpreter", [
    (action(transport="ssh"), HERE),
    (action(become=True), HERE),
    (action(environment=[{"HTTPS_PROXY": "http://proxy:3128"}]), HERE),
    (action(check_mode=True), HERE),
    (action(async_val=60), HERE),
    (action(), None),  # discovered on the host: cannot tell
    (action(), "/usr/bin/python3"),  # another interpreter
], ids=["ssh", "become", "environment", "check-mode", "async", "discovered", "other-python"])
def test_anything_else_runs_as_the_module(act, interpreter):
    task_vars = {"ansible_python_interpreter": interpreter} if interpreter else {}
    assert not runs_here(act, task_vars)


def test_python_and_python3_of_one_bin_directory_are_the_same_python(tmp_path, monkeypatch):
    real = os.path.realpath(HERE)
    for name in ("python", "python3"):
        os.symlink(real, str(tmp_path / name))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    assert runs_here(action(), {"ansible_python_interpreter": str(tmp_path / "python")})
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.symlink(real, str(other / "python3"))  # the same binary, another venv's bin
    assert not runs_here(action(), {"ansible_python_interpreter": str(other / "python3")})


SPEC = dict(argument_spec=dict(name=dict(type="str", required=True),
                               token=dict(type="str", no_log=True),
                               count=dict(type="int", default=2)),
            required_if=[("name", "secret", ("token",))])


def test_arguments_are_validated_as_the_module_would():
    assert run_here(SPEC, lambda m: dict(m.params), {"name": "a"}) == \
        {"name": "a", "token": None, "count": 2}
    out = run_here(SPEC, lambda m: {}, {"name": "secret"})
    assert out["failed"] and "token" in out["msg"]
    out = run_here(SPEC, lambda m: {}, {"name": "a", "count": "many"})
    assert out["failed"] and "count" in out["msg"]


def test_failures_take_the_module_s_face_and_no_log_values_are_masked():
    def fails(module):
        module.no_log_values.add("hidden-by-the-module")
        raise DatamoverError("refused: %s and hidden-by-the-module" % module.params["token"],
                             problems=["p"])
    out = run_here(SPEC, fails, {"name": "a", "token": "s3cr3t"})
    assert out["failed"] and out["problems"] == ["p"]
    assert "s3cr3t" not in out["msg"] and "hidden-by-the-module" not in out["msg"]

    def bug(module):
        raise KeyError("x")
    out = run_here(SPEC, bug, {"name": "a"})
    assert out["failed"] and out["msg"].startswith("internal error: KeyError")
    assert "Traceback" in out["exception"]
