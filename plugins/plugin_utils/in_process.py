# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's work done in the controller's own process when the task's host is the
controller itself.

A module execution costs its AnsiballZ payload built on the controller (0.25-0.35 s measured
for preflight and worker: the module_utils closure found and zipped), a new Python that
imports ``ansible.module_utils.basic`` and our code from that zip with nothing compiled
(0.3-0.5 s more with two hosts on two cores), and the JSON round trip. When the host is this
controller (a local connection, no become), with the same Python, no task ``environment``
and no check mode, the same code does the same work in the task's forked worker process: the
same file system, user, interpreter and environment, so the same result.

Everything AnsibleModule does for a module that matters here is kept: the argument spec
(types, defaults, choices, required_if), the failure face (``module_glue.failure``), and the
no_log values (the spec's and the credentials a module hides) masked in the result.
"""
from __future__ import annotations

import os
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import failure

LOCAL_TRANSPORTS = ("local", "ansible.builtin.local")
# What ArgumentSpecValidator takes besides the argument spec (AnsibleModule takes them too).
_CONSTRAINTS = ("mutually_exclusive", "required_together", "required_one_of", "required_if",
                "required_by")


def local_host(action):
    """The task's host is this controller, as this user: a local connection, no become."""
    return (getattr(action._connection, "transport", None) in LOCAL_TRANSPORTS
            and not action._play_context.become)


def same_python(action, task_vars):
    """The host's interpreter is this process's: the same executable in the same bin directory
    (``python`` and ``python3`` of one virtualenv are; a venv's and its base's are not)."""
    value = (task_vars or {}).get("ansible_python_interpreter")
    if not value:
        return False  # discovered at run time: cannot tell here
    path = os.path.abspath(str(action._templar.template(value)))
    here = os.path.abspath(sys.executable)
    return (os.path.dirname(path) == os.path.dirname(here)
            and os.path.realpath(path) == os.path.realpath(here))


def runs_here(action, task_vars):
    """The module's work may be done in this process with the same result."""
    return (local_host(action) and same_python(action, task_vars)
            and not any(action._task.environment or ()) and not action._task.check_mode
            and not action._task.async_val)


class ModuleHere:
    """What a module's ``execute(module)`` uses of AnsibleModule, without one."""

    check_mode = False

    def __init__(self, params, no_log_values):
        self.params = params
        self.no_log_values = set(no_log_values)


def run_here(spec, execute, args):
    """``execute(module)`` on ``args`` validated by ``spec`` (AnsibleModule's keyword
    arguments): the module's result, or its failure, with every no_log value masked."""
    validator = ArgumentSpecValidator(spec["argument_spec"],
                                      **{k: spec[k] for k in _CONSTRAINTS if k in spec})
    validation = validator.validate(args)
    if validation.error_messages:
        return remove_values(dict(failed=True, msg="; ".join(validation.error_messages)),
                             validation._no_log_values)
    module = ModuleHere(validation.validated_parameters, validation._no_log_values)
    try:
        result = execute(module)
    except Exception as exc:  # a bug included: failure() keeps its traceback, as a module's
        result = dict(failure(exc), failed=True)
    return remove_values(result, module.no_log_values)


def run_module(action, task_vars, spec, execute):
    """The task's module: here when ``runs_here``, else on its host as usual."""
    if runs_here(action, task_vars):
        return run_here(spec, execute, action._task.args)
    result = action._execute_module(task_vars=task_vars)
    action._remove_tmp_path(action._connection._shell.tmpdir)
    return result
