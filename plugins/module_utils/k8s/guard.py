# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes executor's guard files, in the run directory (``rundir.guard_paths``).

The play starts a guard beside the run that deletes the Job and the Secret when the play
goes away: the watch beats (touches ``alive``) at every poll, the play's cleanup releases the
guard (writes ``done``), and the guard cleans up when the heartbeat goes stale unreleased.
"""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import open_private


class Guard:
    """The heartbeat and release marker of one run's guard."""

    def __init__(self, rundir):
        self.alive, self.done = rundir.guard_paths()

    def _parent(self):
        os.makedirs(os.path.dirname(self.alive), mode=0o700, exist_ok=True)

    def beat(self):
        self._parent()
        with open_private(self.alive, 0o600):
            os.utime(self.alive, None)

    def release(self):
        self._parent()
        with open_private(self.done, 0o600, append=False) as handle:
            handle.write(b"released\n")

    def released(self):
        return os.path.exists(self.done)

    def last_beat(self):
        try:
            return os.stat(self.alive).st_mtime
        except OSError:
            return 0  # the run directory is gone: so is the play

    def wait(self, grace, startup, poll):
        """Arm the guard and wait: "released" when the play released it, "stale" when its
        heartbeat stopped for ``grace`` seconds (``startup`` before the watch's first beat)."""
        self._parent()
        if self.released():
            os.unlink(self.done)  # a marker of an earlier execution of the same run
        self.beat()
        first = self.last_beat()
        while not self.released():
            beat = self.last_beat()
            # Until the watch's first heartbeat the play is still creating things: allow for that.
            limit = grace if beat > first else max(grace, startup)
            if time.time() - beat > limit:
                return "stale"
            time.sleep(poll)
        return "released"
