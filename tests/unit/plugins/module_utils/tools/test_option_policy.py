"""Each tool's policy on datamover_tool_options: what changes the meaning of a run is
refused with a sentence naming the option and the switch that does the job properly."""
from __future__ import annotations

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS

RSYNC, RCLONE = TOOLS["rsync"], TOOLS["rclone"]


@pytest.mark.parametrize("options, named, advice", [
    (["--remove-source-files"], "--remove-source-files", "never deletes"),
    (["--delete"], "--delete", "never deletes"),
    (["--delete-after"], "--delete-after", "never deletes"),
    (["--max-delete=10"], "--max-delete", "never deletes"),
    (["--dry-run"], "--dry-run", "partition module"),
    (["-n"], "-n (--dry-run)", "dry run"),
    (["-avn"], "-n (--dry-run) in '-avn'", "dry run"),
    (["-nav"], "-n (--dry-run)", "dry run"),
    (["--write-batch=/tmp/b"], "--write-batch", "outside the destination"),
    (["--only-write-batch", "/tmp/b"], "--only-write-batch", "dry run"),
    (["--temp-dir=/tmp"], "--temp-dir", "temp files"),
    (["-T", "/tmp"], "-T (--temp-dir)", "temp files"),
    (["-T/tmp"], "-T (--temp-dir)", "temp files"),
    (["--partial-dir=.p"], "--partial-dir", "temp files"),
    (["--backup-dir", "/old"], "--backup-dir", "back up"),
    (["-b"], "-b (--backup)", "back up"),
    (["--link-dest=/prev"], "--link-dest", "datamover_run_id"),
    (["--compare-dest=/prev"], "--compare-dest", "datamover_run_id"),
    (["--copy-dest=/prev"], "--copy-dest", "datamover_run_id"),
    (["--files-from=/etc/list"], "--files-from", "datamover_excludes"),
    (["--exclude", "*.tmp"], "--exclude", "datamover_excludes"),
    (["--filter=- *.o"], "--filter", "datamover_excludes"),
    (["-f", "- *.o"], "-f (--filter)", "datamover_excludes"),
    (["--existing"], "--existing", "datamover_run_id"),
    (["--ignore-existing"], "--ignore-existing", "datamover_run_id"),
    (["--size-only"], "--size-only", "verification"),
    (["-u"], "-u (--update)", "verification"),
    (["--checksum"], "--checksum", "datamover_verify=checksum"),
    (["-c"], "-c (--checksum)", "datamover_verify=checksum"),
    (["-L"], "-L (--copy-links)", "symlink"),
    (["--no-relative"], "--no-relative", "where files land"),
    (["--log-file=/var/log/x"], "--log-file", "<run dir>/logs"),
])
def test_rsync_refuses_options_that_change_the_run(options, named, advice):
    problems = RSYNC.option_problems(options)
    assert len(problems) == 1, problems
    assert "rsync %s" % named in problems[0] and advice in problems[0]
    assert problems[0].startswith("datamover_tool_options: ")


@pytest.mark.parametrize("options", [
    [], ["--bwlimit=300"], ["--bwlimit", "300"], ["-v"], ["-vh"], ["--info=progress2"],
    ["--chmod", "D755,F644"], ["-e", "ssh -n"], ["-essh"], ["--inplace"], ["--sparse"],
    ["--partial"], ["--timeout", "60"], ["-H"], ["--no-motd"], ["-z"], ["-B", "8192"],
])
def test_rsync_allows_options_that_keep_the_run_meaning(options):
    assert RSYNC.option_problems(options) == []


@pytest.mark.parametrize("options", [["/etc"], ["--", "/etc"], ["-v", "other/dir"]])
def test_rsync_refuses_extra_paths(options):
    problems = RSYNC.option_problems(options)
    assert problems and all("path" in p for p in problems)


@pytest.mark.parametrize("options, named, advice", [
    (["--dry-run"], "--dry-run", "dry run"),
    (["-n"], "-n (--dry-run)", "dry run"),
    (["-vn"], "-n (--dry-run) in '-vn'", "dry run"),
    (["-i"], "-i (--interactive)", "terminal"),
    (["--config=/root/.config/rclone/rclone.conf"], "--config", "datamover_rclone_config"),
    (["--config", "/x"], "--config", "datamover_rclone_config"),
    (["--delete-after"], "--delete-after", "never deletes"),
    (["--delete-empty-src-dirs"], "--delete-empty-src-dirs", "never deletes"),
    (["--max-delete", "10"], "--max-delete", "never deletes"),
    (["--backup-dir=remote:old"], "--backup-dir", "back up"),
    (["--suffix=.bak"], "--suffix", "back up"),
    (["--compare-dest=remote:prev"], "--compare-dest", "datamover_run_id"),
    (["--copy-dest=remote:prev"], "--copy-dest", "datamover_run_id"),
    (["--files-from=/x"], "--files-from", "datamover_excludes"),
    (["--files-from-raw", "/x"], "--files-from-raw", "datamover_excludes"),
    (["--exclude=*.tmp"], "--exclude", "datamover_excludes"),
    (["--ignore-existing"], "--ignore-existing", "datamover_run_id"),
    (["--ignore-size"], "--ignore-size", "verification"),
    (["--size-only"], "--size-only", "verification"),
    (["--max-age=1d"], "--max-age", "verification"),
    (["-L"], "-L (--copy-links)", "datamover_symlinks"),
    (["--skip-links"], "--skip-links", "datamover_symlinks"),
])
def test_rclone_refuses_options_that_change_the_run(options, named, advice):
    problems = RCLONE.option_problems(options)
    assert len(problems) == 1, problems
    assert "rclone %s" % named in problems[0] and advice in problems[0]


@pytest.mark.parametrize("options", [
    [], ["--bwlimit=10M"], ["--tpslimit", "50"], ["--transfers", "16"], ["-v"], ["-P"],
    ["--checksum"], ["--s3-upload-concurrency=8"], ["--fast-list"], ["--retries", "5"],
])
def test_rclone_allows_options_that_keep_the_run_meaning(options):
    assert RCLONE.option_problems(options) == []


def test_every_problem_is_reported_together():
    problems = RSYNC.option_problems(["--delete", "-v", "--dry-run", "--temp-dir=/t"])
    assert [p.split()[2] for p in problems] == ["--delete", "--dry-run", "--temp-dir"]


def test_short_options_of_a_tool_refer_to_its_own_refused_options():
    for tool in TOOLS.values():
        assert set(tool.refused_short.values()) <= set(tool.refused_options)
        assert all(name.startswith("--") for name in tool.refused_options)
