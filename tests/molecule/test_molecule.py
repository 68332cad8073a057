"""The molecule scenarios of extensions/molecule/ (one per provisioning role), one test each.

Each runs `molecule test -s <scenario>` (create, check, converge, idempotence, verify, destroy)
exactly as `make molecule` does; the scenario's full output goes to a log file named in the
failure message.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO_ROOT = os.path.join(ROOT, "extensions", "molecule")
VENV_BIN = os.path.dirname(sys.executable)
SCENARIOS = sorted(name for name in os.listdir(SCENARIO_ROOT)
                   if os.path.exists(os.path.join(SCENARIO_ROOT, name, "molecule.yml")))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("molecule scenarios need root: they install packages and make network namespaces")
    env = dict(os.environ,
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PY_COLORS="0")
    log = tmp_path / ("molecule-%s.log" % scenario)
    with open(log, "wb") as handle:
        proc = subprocess.run([os.path.join(VENV_BIN, "molecule"), "test", "-s", scenario],
                              cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=840, check=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-60:]
        pytest.fail("molecule test -s %s exited %d (full log: %s)\n%s"
                    % (scenario, proc.returncode, log, "\n".join(tail)))
