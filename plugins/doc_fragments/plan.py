# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    # The one description of a plan's options (spec: module_utils/args_common.PLAN_OPTIONS).
    DOCUMENTATION = r"""
options:
  plan:
    description:
      - What the run moves and how. Given to the host that creates (or resumes) the run and
        crawls its source; the other workers read it from the run directory's C(run.json).
    type: dict
    suboptions:
      source:
        description: Absolute path of the directory whose contents are moved.
        type: path
        required: true
      destination:
        description: rclone C(remote:bucket[/prefix]) or, for rsync, an absolute path.
        type: str
        required: true
      tool:
        description: Transfer tool.
        type: str
        choices: [rclone, rsync]
        required: true
      engine:
        description: Crawler. C(native) walks the tree itself; C(fpart) needs the fpart binary on the host.
        type: str
        choices: [native, fpart]
        default: native
      partition_files:
        description: Most entries in one partition.
        type: int
        default: 2000
      partition_bytes:
        description:
          - Most bytes in one partition (a larger single file gets a partition of its own).
          - The first partitions hold at most 64 MiB; the cap then grows with what the crawl has
            published (a 1/(4 x O(plan.fleet_slots)) share of it) up to this value, so that a tree
            of a few large files keeps every slot of the fleet busy (docs/tuning.md).
        type: int
        default: 10737418240
      fleet_slots:
        description:
          - Transfer slots of the whole fleet (hosts x slots), a hint for the growing byte cap of
            the partitions. The role passes it; unset, 8 is assumed. Recorded in run.json, so a
            resumed run cuts the tree as its first execution did.
        type: int
      excludes:
        description:
          - fnmatch patterns. Without C(/) a pattern matches a name at any depth; with C(/) the
            path relative to the source. A trailing C(/) matches directories only.
        type: list
        elements: str
        default: []
      tool_options:
        description:
          - Extra arguments for the transfer tool, one list item per argument.
          - Options that delete or move anything, write outside the destination, change what
            is compared or copied, or make a dry run are refused, each with the switch that
            does the job properly (docs/safety.md).
        type: list
        elements: str
        default: []
      rclone_config:
        description: Path of the rclone config file on the workers.
        type: path
      transfers:
        description: rclone C(--transfers) (and C(--checkers)) of each slot.
        type: int
        default: 8
      verify:
        description:
          - C(size) compares names and sizes (and mtimes for rsync); C(checksum) also content;
            C(none) skips verification.
        type: str
        choices: [size, checksum, none]
        default: size
      symlinks:
        description:
          - What rclone does with symlinks. C(links) stores them as C(.rclonelink) objects
            (restored by C(rclone copy --links)); C(skip) leaves them out and reports them.
            rsync always keeps them.
        type: str
        choices: [links, skip]
        default: links
      threads:
        description:
          - Threads that list directories ahead of the crawl (native engine), used once the
            file system proves slow (NFS, Lustre); a fast local file system is walked inline.
        type: int
        default: 8
      since:
        description:
          - Id of an earlier run of the same migration (same source, destination and tool).
            Makes this an incremental run - the crawl is compared with that run's manifest and
            only new and changed entries (size, mtime, and mode/uid/gid for rsync) are planned,
            without any request to the destination for the others.
          - Entries gone from the source are listed (C(deletions.manifest), the report) and
            deleted only with O(plan.mirror). Always crawled by the native engine.
        type: str
      mirror:
        description:
          - With O(plan.since), delete at the destination the entries gone from the source.
            Refused, deleting nothing, when the crawl had errors, when the deletions exceed
            O(plan.max_delete) or O(plan.max_delete_share), or when the previous run did not
            succeed.
        type: bool
        default: false
      max_delete:
        description: Most deletions a mirror applies.
        type: int
        default: 100
      max_delete_share:
        description: Largest share of the previous run's entries a mirror deletes.
        type: float
        default: 0.05
      audit:
        description:
          - Compare the destination with the source, partition by partition, moving and
            writing nothing there (no probe, no transfer, no retry). Every difference (missing,
            other size, other content with O(plan.verify=checksum)) is named in
            C(not-copied.jsonl); the run fails when the destination does not hold the source.
          - Needs a run id of its own (an audit never resumes a migration or the reverse).
        type: bool
        default: false
      audit_extra:
        description:
          - With O(plan.audit), also list what the destination holds that the source does not
            (one listing of the whole destination at the end).
        type: bool
        default: false
      plan_only:
        description:
          - A plan-only pass - crawl and partition as a run does, then survey each partition
            (sizes, a histogram, hard links, sparse files, names the destination cannot hold,
            the requests a migration would send) instead of moving it. Nothing is moved or
            written at the destination; the report holds the figures (C(plan_only)).
          - Needs a run id of its own (a run id is one kind of pass for life).
        type: bool
        default: false
      estimate:
        description:
          - The plan-only report's estimates - C(prices) (C(currency), C(per_1000_writes),
            C(per_1000_lists), C(per_gb_month)), C(bytes_per_second) and C(files_per_second).
            No price is built in. May change when the run is repeated.
        type: dict
        default: {}
      run_dir_access:
        description:
          - Who may read the run directory (file names, logs, reports). C(private) gives its
            directories 0700 and files 0600; C(group) gives 2750 and 0640, for an operator team
            sharing the shared dir's group.
        type: str
        choices: [private, group]
        default: private
      tolerate:
        description:
          - Problems that do not fail the run. By default anything not copied fails it.
          - C(unreadable) accepts files and directories the crawl could not read; the report
            still lists them.
          - C(changed) accepts files that changed in the source during the run (after the
            crawl recorded them); the report still names each one, and an incremental pass
            (datamover_since) moves their new version.
          - C(vanished) accepts a partition that lost more than 10% of its files from the
            source during the run (a directory removed or renamed after the crawl); without
            it such a partition fails. A source root that is gone always fails the run.
          - C(unrepresentable) accepts files whose name the destination cannot hold (an object
            key over 1024 bytes, a name rclone cannot read back); the report still names each.
        type: list
        elements: str
        choices: [unreadable, changed, vanished, unrepresentable]
        default: []
"""
