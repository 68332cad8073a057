# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of a partition's survey (datamover_plan_only): written by the worker
(work/survey.py) into the partition's result (records.PartResult.survey), summed by the report
(report/plan_report.py)."""
from __future__ import annotations

import bisect

# Upper bounds (exclusive) of the size histogram's buckets: empty, then powers of 16 from
# 4 KiB to 1 TiB; the last bucket holds everything from 1 TiB up.
HISTOGRAM_EDGES = (1, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20, 4 << 30, 64 << 30,
                   1 << 40)
LARGEST = 20          # largest files kept per partition (and in the report)
EXTREMES = 5          # deepest and longest paths kept
SAMPLES = 50          # samples of each finding


def empty_survey():
    return {"files": 0, "symlinks": 0, "bytes": 0,
            "histogram": [[0, 0] for _edge in range(len(HISTOGRAM_EDGES) + 1)],
            "largest": [], "deepest": [], "longest": [],
            "unrepresentable": [0, []], "vanished": [0, []], "changed": [0, []],
            "hardlinks": {"files": 0, "bytes": 0, "inodes": [], "inodes_dropped": 0},
            "sparse": {"files": 0, "bytes": 0, "allocated": 0, "samples": []},
            "requests": {"put": 0, "multipart_uploads": 0, "parts": 0, "list": 0},
            "most_parts": [0, 0, None]}


def bucket(size):
    """The histogram bucket of a file of ``size`` bytes."""
    return bisect.bisect_right(HISTOGRAM_EDGES, size)
