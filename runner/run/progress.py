"""A run in progress: its record, where the record is kept, and who hears about it.

The record is written when the run starts and when it ends (runner.record.RunStore). In between it
is written only at `checkpoint`s, the moments a SIGKILL must not lose: after them the record says
what the build concluded, what was planned, which files exist locally and which were delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runner.record import RunRecord, RunStore
from runner.reporter import Reporter

#: built: the dbt outcome, which a later `--skip-build` trusts or refuses.
#: planned: feeds, modes, counts and gates, before any file is written.
#: exported: a feed file exists locally (a later run takes it as evidence of the feed's history).
#: delivered: a file reached the destination, or failed to, and whether the state advanced past it.
Moment = Literal["built", "planned", "exported", "delivered"]


@dataclass
class Progress:
    record: RunRecord
    store: RunStore
    reporter: Reporter

    def checkpoint(self, moment: Moment) -> None:
        """Write the record as it stands, so a run killed after this moment still shows it."""
        self.store.save(self.record)
