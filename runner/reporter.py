"""What the commands tell the user while they work: the `Reporter` interface. The CLI implements it
for terminals, logs and JSON (runner.cli.render); runner.run only calls it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.deliver import DeliveryResult


class Reporter:
    """Receives progress from the pipeline; the CLI subclasses it for terminals, logs and JSON."""

    def stage(self, name: str, detail: str = "") -> None:
        """A pipeline step starts."""

    def node(self, name: str, resource_type: str, status: str) -> None:
        """A dbt node finished."""

    def warn(self, message: str) -> None:
        """Something the user should see that does not stop the run."""

    def exported(self, feed: str, rows: int, size: int, path: Path) -> None:
        """A feed file is written and verified."""

    def transfer(self, path: Path, sent: int, total: int) -> None:
        """Bytes of one file delivered so far."""

    def delivered(self, result: DeliveryResult) -> None:
        """One file reached its destination (or failed to)."""
