"""errors and module_glue: every error class of ours derives from DatamoverError, and one
function turns any of them into a failed module's result."""
from __future__ import annotations

import importlib
import inspect
import os
import pkgutil

from ansible_collections.datamover.fleet.plugins import module_utils
from ansible_collections.datamover.fleet.plugins.module_utils.errors import (
    DatamoverError,
    DependencyMissing,
    require_library,
)
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import failure
from ansible_collections.datamover.fleet.plugins.module_utils.oci.errors import OciAccessError

import pytest


def _our_modules():
    for info in pkgutil.walk_packages(module_utils.__path__, module_utils.__name__ + "."):
        yield importlib.import_module(info.name)


def test_every_exception_class_of_ours_derives_from_the_one_base():
    found = []
    for mod in _our_modules():
        for _name, obj in inspect.getmembers(mod, inspect.isclass):
            if obj.__module__ == mod.__name__ and issubclass(obj, BaseException):
                found.append(obj)
    strays = [c for c in found if not issubclass(c, DatamoverError)
              and c.__name__ != "ApiException"]  # the kubernetes client's, when it is missing
    assert len(found) >= 8 and not strays, strays


def test_failure_carries_the_details_of_the_error():
    result = failure(OciAccessError("no bucket b", status=404, code="BucketNotFound",
                                    request_id="rq"))
    assert result == dict(msg="no bucket b", status=404, code="BucketNotFound",
                          opc_request_id="rq")
    assert failure(DatamoverError("bad", problems=["a"])) == dict(msg="bad", problems=["a"])


def test_a_missing_library_says_which_and_where():
    with pytest.raises(DependencyMissing) as caught:
        require_library("kubernetes", False, "Traceback: no module")
    result = failure(caught.value)
    assert "kubernetes" in result["msg"] and result["exception"] == "Traceback: no module"
    require_library("kubernetes", True, None)  # present: nothing raised


def test_an_os_error_names_its_path_and_a_bug_keeps_its_traceback():
    assert failure(OSError(2, "No such file", os.devnull))["msg"] == \
        "I/O error (%s): No such file" % os.devnull
    try:
        raise KeyError("x")
    except KeyError as exc:
        bug = failure(exc)
    assert bug["msg"].startswith("internal error: KeyError") and "Traceback" in bug["exception"]


def test_every_module_fails_through_the_one_guard():
    from tests.conftest import ROOT
    callers = []
    for folder in ("modules", "action", "plugin_utils"):
        base = os.path.join(ROOT, "plugins", folder)
        for name in sorted(os.listdir(base)):
            if name.endswith(".py"):
                with open(os.path.join(base, name), encoding="utf-8") as handle:
                    if "fail_json(" in handle.read():
                        callers.append("%s/%s" % (folder, name))
    assert not callers, callers
