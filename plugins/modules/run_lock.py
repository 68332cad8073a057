#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: One controller per run - take or release the run's controller lock
version_added: "0.3.0"
description:
  - Action plugin with a module of the same name. Takes the lock file C(controller.lock) in
    the run directory for this controller (its host name, the C(ansible-playbook) pid and its
    start time), or releases it at the end of the play.
  - A second play on the same run id is refused with the holder's host, pid and start time,
    unless the holder is provably gone - its pid is dead (or is another process now) on this
    same controller host, or its heartbeat (the lock's mtime, touched by
    M(datamover.fleet.watch)) is older than O(lease_seconds) allows.
  - A refused call writes nothing. Taking is atomic (written aside, then C(link)).
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  state:
    description:
      - C(held) takes the lock; C(released) removes it when O(nonce) holds it, and with it the
        run's credentials file (C(private/secrets.json)), so that they do not outlive the play;
        C(beat) touches it when O(nonce) holds it (the heartbeat M(datamover.fleet.watch) keeps
        while it watches; RV(held) says whether it still does).
    type: str
    choices: [held, released, beat]
    default: held
  nonce:
    description: This play's token (the preflight canary's nonce); the lock's owner is whoever
      holds it.
    type: str
    required: true
  lease_seconds:
    description: The workers' lease; a lock without a heartbeat for twice this (at least 120
      seconds, and four times O(interval)) is a controller that is gone.
    type: float
    default: 120
  interval:
    description: The watch's interval (datamover_watch_interval).
    type: float
    default: 10
  run_dir_access:
    description: Mode of the run directory when the lock creates it (a new run), as
      C(datamover_run_dir_access).
    type: str
    choices: [private, group]
    default: private
  holder:
    description: Set by the action plugin - who the controller is (host, pid, start time).
    type: dict
  breaks:
    description: Set by the action plugin - the nonce of a holder it proved gone.
    type: str
"""

EXAMPLES = r"""
- name: Preflight | this controller alone on the run
  datamover.fleet.run_lock:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    nonce: "{{ datamover_run.nonce }}"
  run_once: true

- name: Release | the run's controller lock
  datamover.fleet.run_lock:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    nonce: "{{ datamover_run.nonce }}"
    state: released
  run_once: true
"""

RETURN = r"""
taken:
  description: Whether this play holds the lock now (O(state=held)).
  returned: when state is held
  type: bool
holder:
  description: The lock's record (host, pid, pid_started, started, run_id, nonce, user) - the
    refusing holder's when not taken.
  returned: when state is held
  type: dict
age:
  description: Seconds since the holder's last heartbeat.
  returned: when state is held
  type: float
broken:
  description: The record of a gone controller whose lock this call replaced, or null.
  returned: when state is held
  type: dict
released:
  description: Whether the lock was removed (O(state=released)).
  returned: when state is released
  type: bool
held:
  description: Whether O(nonce) still holds the lock (O(state=beat)); the lock was touched when it does.
  returned: when state is beat
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.run import runlock
from ansible_collections.datamover.fleet.plugins.module_utils.args_common import LEASE_ARG, run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded


def main():
    module = AnsibleModule(
        argument_spec=run_args(
            state=dict(type="str", default="held", choices=["held", "released", "beat"]),
            nonce=dict(type="str", required=True, no_log=False),
            **LEASE_ARG,
            interval=dict(type="float", default=10.0),
            run_dir_access=dict(type="str", default="private", choices=["private", "group"]),
            holder=dict(type="dict"),
            breaks=dict(type="str", no_log=False),
        ),
        supports_check_mode=False)
    module.exit_json(**guarded(module, runlock.run_lock, module.params))


if __name__ == "__main__":
    main()
