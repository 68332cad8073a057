"""Run a datamover.fleet OCI module in-process, the way Ansible would, and return its result."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    def __init__(self, failed, result):
        super().__init__(json.dumps(result, default=str))
        self.failed = failed
        self.result = result


def run_module(module, params, check_mode=False, diff=False):
    """The module's result dict; ``failed`` in it when the module called fail_json."""
    args = dict(params, _ansible_check_mode=check_mode, _ansible_diff=diff)

    def exit_json(self, **kwargs):
        raise ModuleExit(False, kwargs)

    def fail_json(self, msg, **kwargs):
        raise ModuleExit(True, dict(kwargs, msg=msg, failed=True))

    with patch_module_args(args), \
            pytest.MonkeyPatch.context() as mp:
        mp.setattr(basic.AnsibleModule, "exit_json", exit_json)
        mp.setattr(basic.AnsibleModule, "fail_json", fail_json)
        with pytest.raises(ModuleExit) as info:
            module.main()
    return info.value.result
