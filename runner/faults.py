"""Fail points for crash tests: `FEEDS_FAILPOINT=<name>` kills this process with SIGKILL when the run
reaches that point, exactly as a power cut or OOM kill would. Unset (always, outside the crash
tests), `checkpoint` does nothing.

With `FEEDS_FAILPOINT_HOLD=<dir>` as well, the process is not killed: it creates `<dir>/<name>` and
waits until `<dir>/<name>.done` exists, so a test can cut the network at exactly that point and then
let the run go on. It holds once; later passes through the point go straight on.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ENV = "FEEDS_FAILPOINT"
HOLD_ENV = "FEEDS_FAILPOINT_HOLD"
_HOLD_SECONDS = 120.0

#: Every point a run can be killed at, in pipeline order.
POINTS = ("build", "export", "upload", "rename", "commit")
#: The steps of the fallback replace (servers without posix-rename@openssh.com), in order: before
#: moving the waiting file aside, before renaming the new file into place, before removing the old one.
SWAP_POINTS = ("rename-aside", "rename-final", "remove-old")


def checkpoint(name: str) -> None:
    """Die here, uncleanly, if the crash test asked for this point (or hold, see the module doc)."""
    if os.environ.get(ENV) != name:
        return
    hold = os.environ.get(HOLD_ENV)
    if not hold:
        os.kill(os.getpid(), signal.SIGKILL)
        return
    done = Path(hold) / f"{name}.done"
    if done.exists():
        return
    (Path(hold) / name).touch()
    deadline = time.monotonic() + _HOLD_SECONDS
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
