"""Credentials taken out of destinations and tool options, and redaction of what we show."""
from __future__ import annotations

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import run_meta
from ansible_collections.datamover.fleet.plugins.module_utils.secrets import redact, redact_argv
from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS

from tests.unit.helpers import new_run, write

RCLONE = TOOLS["rclone"]


@pytest.mark.parametrize("dest, options, clean_dest, clean_options, env", [
    (":s3,provider=AWS,secret_access_key=SK:b/p", [], ":s3,provider=AWS:b/p", [],
     {"RCLONE_S3_SECRET_ACCESS_KEY": "SK"}),
    (":s3,endpoint='http://h:1',secret_access_key='a,b:c':b", ["-v"], ":s3,endpoint='http://h:1':b",
     ["-v"], {"RCLONE_S3_SECRET_ACCESS_KEY": "a,b:c"}),
    ("remote,password=pw:bucket", [], "remote:bucket", [], {"RCLONE_CONFIG_REMOTE_PASSWORD": "pw"}),
    ("oci:bucket", ["--s3-secret-access-key", "SK", "--transfers", "4"], "oci:bucket",
     ["--transfers", "4"], {"RCLONE_S3_SECRET_ACCESS_KEY": "SK"}),
    ("oci:bucket", ["--s3-session-token=T"], "oci:bucket", [], {"RCLONE_S3_SESSION_TOKEN": "T"}),
    ("oci:bucket", ["--ask-password", "-v"], "oci:bucket", ["-v"], {"RCLONE_ASK_PASSWORD": "true"}),
    ("oci:bucket/p", ["--bwlimit=1M"], "oci:bucket/p", ["--bwlimit=1M"], {}),
])
def test_rclone_credentials_become_environment_variables(dest, options, clean_dest,
                                                          clean_options, env):
    assert RCLONE.split_secrets(dest, options) == (clean_dest, clean_options, env)


def test_rsync_keeps_its_options():
    assert TOOLS["rsync"].split_secrets("/dst", ["--password-file=/x"]) == (
        "/dst", ["--password-file=/x"], {})


def test_run_json_holds_no_credential_and_the_workers_get_them_privately(tmp_path):
    write(str(tmp_path / "src" / "f"), b"x")
    dest = ":s3,provider=AWS,secret_access_key=SK1:bucket/p"
    rundir, _ = new_run(str(tmp_path / "shared"), "r1", str(tmp_path / "src"), dest,
                        tool="rclone", tool_options=["--s3-session-token", "TOK"])
    with open(rundir.p("run.json")) as handle:
        text = handle.read()
    assert "SK1" not in text and "TOK" not in text
    assert rundir.load()["destination"] == ":s3,provider=AWS:bucket/p"
    assert rundir.read_secrets() == {"RCLONE_S3_SECRET_ACCESS_KEY": "SK1",
                                     "RCLONE_S3_SESSION_TOKEN": "TOK"}
    # the same migration with a rotated key is the same run (its identity has no credential)
    assert run_meta(dict(source=str(tmp_path / "src"), tool="rclone",
                         destination=dest.replace("SK1", "SK2")))["destination"] == \
        rundir.load()["destination"]


def test_redact():
    assert redact(":s3,provider=AWS,secret_access_key=SK:b") == \
        ":s3,provider=AWS,secret_access_key=REDACTED:b"
    assert redact("oci:bucket") == "oci:bucket"
    assert redact_argv(["--s3-secret-access-key", "SK", "--x=1", "--s3-session-token=T"]) == [
        "--s3-secret-access-key", "REDACTED", "--x=1", "--s3-session-token=REDACTED"]


@pytest.mark.parametrize("access, dir_mode, file_mode", [("private", 0o700, 0o600),
                                                         ("group", 0o2750, 0o640)])
def test_the_run_directory_is_private_by_default(tmp_path, access, dir_mode, file_mode):
    import os
    import stat

    from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
    write(str(tmp_path / "src" / "f"), b"x")
    old = os.umask(0o022)  # a lax umask: the modes must not depend on it
    try:
        rundir, _ = new_run(str(tmp_path / "shared"), "r1", str(tmp_path / "src"),
                            str(tmp_path / "dst"), run_dir_access=access)
        os.umask(0o022)  # the controller's, writing the report
        make_report(rundir)
    finally:
        os.umask(old)
    for directory, dirs, files in os.walk(rundir.path):
        assert stat.S_IMODE(os.stat(directory).st_mode) == dir_mode, directory
        for name in files:  # what datamover writes atomically follows its directory
            if name.endswith((".json", ".md", ".manifest")):
                mode = stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode)
                assert mode == file_mode, (directory, name, oct(mode))
