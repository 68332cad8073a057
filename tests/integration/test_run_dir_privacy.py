"""Every file datamover writes in a run directory is 0600 (0640 with datamover_run_dir_access:
group) and every directory 0700 (2750), whatever the umask of the controller and the workers:
logs, state markers, progress, results, manifests, reports. Finished runs through migrate.yml,
rsync and S3 (SeaweedFS), under umask 022."""
from __future__ import annotations

import os
import stat

import pytest

from tests.integration.test_migrate_local import _vars
from tests.lab.trees import sample_tree


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the workers and the controller inherit it through ansible-runner
    yield
    os.umask(old)


def _too_open(run_dir, file_mode, dir_mode):
    """Every path under the run directory whose mode lets in more than the chosen access."""
    out = []
    for dirpath, dirnames, filenames in os.walk(run_dir):
        for name in dirnames:
            mode = stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)
            if mode & ~dir_mode:
                out.append((os.path.join(dirpath, name), oct(mode)))
        for name in filenames:
            mode = stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)
            if mode & ~file_mode:
                out.append((os.path.join(dirpath, name), oct(mode)))
    return out


@pytest.mark.parametrize("access,file_mode,dir_mode", [
    ("private", 0o600, 0o700), ("group", 0o640, 0o2750)])
def test_rsync_run_dir_files_follow_the_access(tmp_path, playbook, umask_022, access, file_mode,
                                               dir_mode):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=120, big_files=0)
    run = playbook(_vars(src, dst, shared, datamover_run_id="priv", datamover_partition_files=20,
                         datamover_run_dir_access=access))
    assert run.rc == 0, run.stdout[-3000:]
    run_dir = shared / "priv"
    logs = os.listdir(run_dir / "logs")
    assert any(n.endswith(".1.log") for n in logs)  # the tools' logs are there to be checked
    assert os.listdir(run_dir / "state" / "done") and os.listdir(run_dir / "progress")
    assert _too_open(str(run_dir), file_mode, dir_mode) == []
    assert stat.S_IMODE(os.stat(run_dir / "logs" / sorted(logs)[0]).st_mode) == file_mode


def test_s3_run_dir_files_are_private(tmp_path, playbook, umask_022, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    sample_tree(str(src), files=120, big_files=0)
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    run = playbook(_vars(src, "dmtest:dmtest/%s" % tmp_path.name, shared, tool="rclone",
                         datamover_rclone_config=conf, datamover_run_id="priv-s3",
                         datamover_partition_files=20))
    assert run.rc == 0, run.stdout[-3000:]
    run_dir = shared / "priv-s3"
    assert any(n.endswith(".1.log") for n in os.listdir(run_dir / "logs"))
    assert _too_open(str(run_dir), 0o600, 0o700) == []
