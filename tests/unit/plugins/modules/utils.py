"""Run a module's ``main()`` in-process, the way community.crypto's unit tests do.

``run_module(module, args)`` exposes ``args`` as the module's arguments, turns
``AnsibleModule.exit_json``/``fail_json`` into exceptions, and hands back what the module
would have returned to Ansible: the result dict and whether it failed. Anything else that
leaves ``main()`` (a traceback in a real play) propagates to the test.
"""
from __future__ import annotations

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # older cores: the module reads its arguments from basic._ANSIBLE_ARGS
    patch_module_args = None


class AnsibleExitJson(Exception):
    """The module called exit_json; ``result`` holds what it returned."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    """The module called fail_json; ``result`` holds what it returned (with ``msg``)."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


def _exit_json(self, **kwargs):
    del self
    kwargs.setdefault("changed", False)
    json.dumps(kwargs)  # what Ansible does with it: must be JSON
    raise AnsibleExitJson(kwargs)


def _fail_json(self, msg, **kwargs):
    del self
    kwargs.update(failed=True, msg=msg)
    json.dumps(kwargs)
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args):
    args = dict(args)
    args.setdefault("_ansible_remote_tmp", "/tmp")
    args.setdefault("_ansible_keep_remote_files", False)
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    with mock.patch.object(basic, "_ANSIBLE_ARGS",
                           to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))):
        yield


def run_module(module, args):
    """Run ``module.main()`` with ``args``; returns (failed, result)."""
    with set_module_args(args), \
            mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json):
        try:
            module.main()
        except AnsibleExitJson as exc:
            return False, exc.result
        except AnsibleFailJson as exc:
            return True, exc.result
    raise AssertionError("%s.main() returned without exit_json or fail_json" % module.__name__)


def module_ok(module, args):
    """The result of a module run that must succeed."""
    failed, result = run_module(module, args)
    assert not failed, "module failed: %s" % result.get("msg")
    return result


def module_fails(module, args):
    """The result of a module run that must fail with a one-line message, no traceback."""
    failed, result = run_module(module, args)
    assert failed, "module did not fail: %r" % (result,)
    msg = result["msg"]
    assert isinstance(msg, str) and msg.strip(), "empty failure message"
    assert "\n" not in msg.strip() and "Traceback" not in msg, "not one line: %r" % msg
    return result
