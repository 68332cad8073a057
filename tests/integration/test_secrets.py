"""A credential in a connection-string destination or in the tool options never lands in
run.json, a log, the report, a process's arguments, the play's output at -vvvv, ansible-runner's
events or Ansible's async result files: the workers give it to rclone in its environment."""
from __future__ import annotations

import glob
import os
import threading
import time

from tests.integration.test_migrate_local import _vars
from tests.lab.seaweed import ACCESS_KEY, SECRET_KEY
from tests.lab.trees import sample_tree


class ArgvSampler(threading.Thread):
    """Every process's arguments, sampled every 20 ms while the play runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.seen = set()

    def run(self):
        while not self.stop.is_set():
            for path in glob.glob("/proc/[0-9]*/cmdline"):
                try:
                    with open(path, "rb") as handle:
                        self.seen.add(handle.read().replace(b"\0", b" "))
                except OSError:
                    pass
            time.sleep(0.02)


def _files_holding(root, needle, skip=()):
    hits = []
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if any(s in path for s in skip):
                continue
            with open(path, "rb") as handle:
                if needle in handle.read():
                    hits.append(path)
    return hits


def test_a_secret_in_the_destination_and_options_is_never_written(tmp_path, playbook, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    files, _nbytes = sample_tree(str(src), files=120, big_files=0)
    # the key id in the connection string, the secret as an option: both ways are covered
    dest = (":s3,provider=SeaweedFS,endpoint='%s',access_key_id=%s:dmtest/%s"
            % (s3.endpoint, ACCESS_KEY, tmp_path.name))
    async_dir = os.path.expanduser("~/.ansible_async")
    before = set(os.listdir(async_dir)) if os.path.isdir(async_dir) else set()
    sampler = ArgvSampler()
    sampler.start()
    try:
        run = playbook(_vars(src, dest, shared, tool="rclone", datamover_run_id="secret",
                             datamover_partition_files=40,
                             datamover_tool_options=["--s3-secret-access-key", SECRET_KEY]),
                       envvars={"ANSIBLE_VERBOSITY": "4"})
    finally:
        sampler.stop.set()
        sampler.join()
    assert run.rc == 0, run.stdout[-4000:]
    assert run.report["status"] == "succeeded" and run.report["files"] == files
    needle = SECRET_KEY.encode()
    assert SECRET_KEY not in run.stdout
    assert any(b"rclone" in a and b" copy " in a for a in sampler.seen)  # the sampler saw them
    assert [a for a in sampler.seen if needle in a] == []
    run_dir = str(shared / "secret")
    assert _files_holding(run_dir, needle, skip=("/private/",)) == []
    # the credentials did not outlive the run on the shared file system
    assert not os.path.exists(os.path.join(run_dir, "private", "secrets.json"))
    # ansible-runner's events and artifacts (its env/ holds the extra vars we gave it)
    assert _files_holding(str(tmp_path / "runner"), needle, skip=("/runner/env/",)) == []
    new_async = set(os.listdir(async_dir)) - before if os.path.isdir(async_dir) else set()
    assert [j for j in new_async if _files_holding_file(os.path.join(async_dir, j), needle)] == []
    assert ACCESS_KEY not in run.report["destination"]
    for key in (ACCESS_KEY, SECRET_KEY):  # a secret in the connection string is taken out too
        assert key not in str(run.report)


def _files_holding_file(path, needle):
    try:
        with open(path, "rb") as handle:
            return needle in handle.read()
    except OSError:
        return False


def test_credentials_are_removed_after_a_stopped_run_and_given_again_on_resume(tmp_path,
                                                                              playbook, s3):
    """A run ended by STOP (a failure) leaves no credentials behind; its resume gets them again
    from the user's input, on every worker, and removes them at its end."""
    src, shared = tmp_path / "src", tmp_path / "shared"
    files, _nbytes = sample_tree(str(src), files=200, big_files=2, big_mib=1)
    dest = (":s3,provider=SeaweedFS,endpoint='%s',access_key_id=%s,secret_access_key=%s:dmtest/%s"
            % (s3.endpoint, ACCESS_KEY, SECRET_KEY, tmp_path.name))
    run_dir = shared / "stopped"
    secrets = run_dir / "private" / "secrets.json"
    seen = []

    def stop_once_a_partition_is_done():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if secrets.exists() and not seen:
                seen.append(os.stat(secrets).st_mode & 0o777)
            done = run_dir / "state" / "done"
            if done.is_dir() and any(done.iterdir()):
                (run_dir / "STOP").touch()
                return
            time.sleep(0.02)

    stopper = threading.Thread(target=stop_once_a_partition_is_done, daemon=True)
    stopper.start()
    base = _vars(src, dest, shared, tool="rclone", datamover_run_id="stopped",
                 datamover_partition_files=20, datamover_slots=1, datamover_transfers=1)
    run = playbook(dict(base, datamover_tool_options=["--bwlimit=100k"]))
    stopper.join()
    assert run.rc != 0 and "STOPPED by the STOP file" in run.stdout, run.stdout[-3000:]
    assert seen == [0o600]  # there while the run went on, for the run's user only
    assert not secrets.exists()
    run = playbook(base, name="resume")
    assert run.rc == 0, run.stdout[-3000:]
    assert run.report["verified"]["files"] == files
    assert not secrets.exists()
