# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wake this process's idle slots when this process changes the queue.

The planning worker crawls in a thread beside its own slots, and a slot settles partitions
another slot may be waiting on (the end of the run). Slots of other hosts still look at the
run directory on their own schedule; these in-process wake-ups only spare a slot sleeping out
its back-off (up to ``poll`` seconds) when the news came from next door: a small or
incremental run waits for it at every step.
"""
from __future__ import annotations

import threading


class QueueSignal:
    def __init__(self):
        self._cond = threading.Condition()
        self._generation = 0

    def generation(self):
        return self._generation

    def notify(self):
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen, timeout):
        """Wait until a change after generation ``seen``, or ``timeout``. True if changed."""
        with self._cond:
            return self._cond.wait_for(lambda: self._generation != seen, timeout)


QUEUE_CHANGED = QueueSignal()
