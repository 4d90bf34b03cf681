"""Fail points for crash tests: `FEEDS_FAILPOINT=<name>` kills this process with SIGKILL when the run
reaches that point, exactly as a power cut or OOM kill would. Unset (always, outside the crash
tests), `checkpoint` does nothing."""

from __future__ import annotations

import os
import signal

ENV = "FEEDS_FAILPOINT"

#: Every point a run can be killed at, in pipeline order.
POINTS = ("build", "export", "upload", "rename", "commit")


def checkpoint(name: str) -> None:
    """Die here, uncleanly, if the crash test asked for this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
