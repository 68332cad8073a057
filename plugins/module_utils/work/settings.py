# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A worker's settings, declared once: the worker module's argument spec, the detached worker's
parameters, ``worker_cli``'s flags and the Kubernetes Job's arguments all come from here, so a
default cannot differ between the ways a worker is started. Also the worker command's exit
codes (the Job's podFailurePolicy keys on them) and how a request budget is shared.
"""
from __future__ import annotations

from collections import namedtuple

Setting = namedtuple("Setting", "name type default help")

# The order is the order of ``worker_cli --help``.
SETTINGS = (
    Setting("slots", "int", 2, "concurrent transfers"),
    Setting("retries", "int", 3, "further attempts per partition"),
    Setting("backoff", "float", 5.0, "first wait between attempts, in seconds"),
    Setting("backoff_max", "float", 120.0, "longest wait between attempts, in seconds"),
    Setting("lease_seconds", "float", 120.0,
            "a claim not refreshed for this long is taken over (the same for every worker)"),
    Setting("poll", "float", 0.5, "seconds between two looks at an empty queue"),
    Setting("run_wait", "float", 120.0,
            "seconds to wait for the run to appear in the shared dir"),
    Setting("batch", "int", 8,
            "most partitions moved by one tool process while the queue is deep"),
    Setting("max_requests_per_second", "float", 0.0,
            "this worker's share of the fleet's request budget (0 = no limit)"),
    Setting("tool_path", "path", None, "rclone/rsync binary when not on PATH"),
    Setting("rclone_config", "path", None,
            "rclone config file (a pod: the Secret's file, mounted read-only)"),
)
DEFAULTS = {s.name: s.default for s in SETTINGS}
LEASE_SECONDS = DEFAULTS["lease_seconds"]

# Exit codes of the worker command.
EXIT_DRAINED, EXIT_CRASHED, EXIT_UNUSABLE, EXIT_STOPPED = 0, 1, 2, 3


def argument_spec():
    """The settings as an AnsibleModule argument spec (defaults included)."""
    return {s.name: dict(type=s.type, default=s.default) if s.default is not None
            else dict(type=s.type) for s in SETTINGS}


def worker_kwargs(params):
    """Keyword arguments of ``Worker`` from a mapping of settings (module parameters, the
    detached worker's JSON, parsed command-line flags); a missing or null one is its default."""
    values = {s.name: params.get(s.name) for s in SETTINGS}
    kwargs = {name: DEFAULTS[name] if value is None else value for name, value in values.items()}
    kwargs["binary"] = kwargs.pop("tool_path")
    return kwargs


def cli_flag(name):
    return "--" + name.replace("_", "-")


def add_cli_arguments(parser):
    """The settings as ``worker_cli`` flags."""
    for s in SETTINGS:
        kind = {"int": int, "float": float}.get(s.type, str)
        parser.add_argument(cli_flag(s.name), dest=s.name, type=kind, default=s.default,
                            help=s.help)


def cli_arguments(values):
    """Flags that give ``worker_cli`` the settings in ``values`` (those not None)."""
    args = []
    for s in SETTINGS:
        value = values.get(s.name)
        if value is not None:
            text = "%.6g" % float(value) if s.type == "float" else str(value)
            args += [cli_flag(s.name), str(int(value)) if s.type == "int" else text]
    return args


def budget_share(budget, shares):
    """One of ``shares`` equal parts of a request budget (requests a second; 0 = no limit).

    The fleet's budget is split over its hosts or pods, and a host's over every tool process it
    may run at once, so that together they never send more than the budget."""
    budget = max(0.0, float(budget or 0))
    return budget / max(1, int(shares)) if budget else 0.0
