"""What the AWX job templates run (playbooks/awx_*.yml, role datamover.fleet.awx_job), through
ansible-runner - the runner AWX uses - on inventories/local with real rclone and a real S3
server: the rclone credential arrives as a file (as AWX's injector writes it), is staged 0600
on the workers and removed, never printed; the report is set as job artifacts; status, stop
and resume work from the run id alone."""
from __future__ import annotations

import json
import os
import stat
import subprocess

from tests.lab.seaweed import SECRET_KEY, rclone_binary
from tests.lab.trees import sample_tree


def _artifacts(run):
    """set_stats data as AWX reads it: the artifact_data of the playbook_on_stats event."""
    for event in run.runner.events:
        if event.get("event") == "playbook_on_stats":
            return (event.get("event_data") or {}).get("artifact_data") or {}
    return {}


def _no_secret(run):
    assert SECRET_KEY not in run.stdout
    assert SECRET_KEY not in json.dumps(list(run.runner.events), default=str)


def test_migrate_status_stop_resume_as_awx_runs_them(tmp_path, playbook, s3):
    src, shared, stage = tmp_path / "src", tmp_path / "shared", tmp_path / "stage"
    files, nbytes = sample_tree(str(src), files=60, big_files=0)
    credential = tmp_path / "awx-private" / "rclone.conf"  # what the credential type's injector writes
    credential.parent.mkdir()
    s3.write_rclone_config(str(credential), remote="awxs3")
    env = {"DATAMOVER_RCLONE_CONFIG_FILE": str(credential)}
    survey = {"datamover_source": str(src), "datamover_destination": "awxs3:%s/awx" % s3.bucket,
              "datamover_tool": "rclone", "datamover_shared_dir": str(shared),
              "datamover_run_id": "awx-run", "datamover_partition_files": 20, "datamover_verify": "size",
              "datamover_excludes": "*.never,never-dir/",
              "datamover_watch_interval": 1, "awx_job_rclone_config_dir": str(stage), "awx_job_id": 42}

    run = playbook(survey, playbook="playbooks/awx_migrate.yml", envvars=env, name="migrate")
    assert run.rc == 0, run.stdout[-4000:]
    _no_secret(run)
    assert stat.S_IMODE(os.stat(stage).st_mode) == 0o700
    assert os.listdir(stage) == []  # the staged credential is gone
    report = _artifacts(run)["datamover_report"]
    assert report["status"] == "succeeded" and report["run_id"] == "awx-run"
    assert report["files"] == files and report["bytes"] == nbytes
    assert report["partitions"]["failed"] == 0 and report["verified"]["mismatches"] == 0
    listed = subprocess.run([rclone_binary(), "lsf", "-R", "--files-only", "--config", str(credential),
                             "awxs3:%s/awx" % s3.bucket], capture_output=True, text=True, check=True)
    assert len(listed.stdout.splitlines()) == files

    ids = {"datamover_shared_dir": str(shared), "datamover_run_id": "awx-run"}
    status = playbook(ids, playbook="playbooks/awx_status.yml", name="status")
    assert status.rc == 0, status.stdout[-3000:]
    total = report["partitions"]["total"]
    assert "run awx-run: %d/%d partitions done, 0 failed" % (total, total) in status.stdout
    art = _artifacts(status)["datamover_status"]
    assert art["complete"] is True and art["partitions"]["done"] == total

    stop = playbook(ids, playbook="playbooks/awx_stop.yml", name="stop")
    assert stop.rc == 0 and os.path.exists(shared / "awx-run" / "STOP")
    again = playbook(ids, playbook="playbooks/awx_stop.yml", name="stop-again")
    assert again.rc == 0 and "changed=0" in again.stdout

    resume = playbook(dict(ids, awx_job_rclone_config_dir=str(stage), awx_job_id=43),
                      playbook="playbooks/awx_resume.yml", envvars=env, name="resume")
    assert resume.rc == 0, resume.stdout[-4000:]
    _no_secret(resume)
    assert not os.path.exists(shared / "awx-run" / "STOP")
    assert _artifacts(resume)["datamover_report"]["status"] == "succeeded"
    assert os.listdir(stage) == []

    unknown = playbook(dict(ids, datamover_run_id="no-such-run"), playbook="playbooks/awx_resume.yml",
                       name="resume-unknown")
    assert unknown.rc != 0 and "no run no-such-run under %s" % shared in unknown.stdout
