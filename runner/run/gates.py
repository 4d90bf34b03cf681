"""Fingerprint each feed against the delivery state, then decide whether the run may go on.

`fingerprint` decides each file's content (full, delta, rows carried from a file still waiting) and
gathers what shows a feed was delivered before; `check_gates` refuses the whole run when a feed
looks wrong (empty, shrunk, a delta too large, a delivery state that seems lost), unless --force.
"""

from __future__ import annotations

from runner import warehouse
from runner.deliver import Destination, still_waiting, temporary_of
from runner.errors import ConfigError, GateRefused
from runner.record import FeedRecord, RunStore
from runner.run.plan import FeedPlan, FeedSpec, RunPlan, feed_file_pattern
from runner.run.progress import Progress
from runner.warehouse.state import DeliveryState



def fingerprint(
    plan: RunPlan, run: Progress, connection: warehouse.Connection, state: DeliveryState, destination: Destination | None
) -> list[FeedPlan]:
    """Fingerprint each feed's rows against the delivery state and decide each file's content."""
    record, reporter = run.record, run.reporter
    plans = []
    for spec in plan.feeds:
        feed = spec.feed
        if not warehouse.relation_exists(connection, feed.relation):
            raise ConfigError(f"mart {feed.model} ({feed.relation}) does not exist; run `feeds build` first")
    evidence = _EarlierDeliveries(plan, destination)
    for spec in plan.feeds:
        feed, entry = spec.feed, record.feeds[spec.name]
        counts = warehouse.rule_counts(connection, feed)
        entry.rejects, entry.rejected_rows = counts.quarantined, counts.quarantined_rows
        entry.excluded, entry.truncated = counts.excluded, counts.truncated
        if counts.quarantined_rows:
            # One line per feed, counting rows; each group of rows with the reasons they share.
            reasons = ", ".join(f"{count} {reasons}" for reasons, count in counts.reason_sets.items())
            reporter.warn(f"{feed.name}: {counts.quarantined_rows} rows quarantined ({reasons})")
        name = spec.file_name(plan.run_date)
        waiting = still_waiting(destination, name)
        mode = "full" if plan.full else feed.mode
        prepared = state.prepare(feed, mode, name if waiting else None)
        entry.mode, entry.total_rows, entry.changed_rows = mode, prepared.total_rows, prepared.changed_rows
        entry.carried_rows = prepared.file_rows - prepared.changed_rows if mode == "delta" else 0
        entry.fingerprinted_rows = prepared.fingerprinted_rows
        lost = None if prepared.has_state or plan.full else evidence.of(spec)
        plans.append(FeedPlan(spec, name, prepared, lost))
    return plans


class _EarlierDeliveries:
    """What shows that a feed was delivered before, for a feed the delivery state knows nothing of."""

    def __init__(self, plan: RunPlan, destination: Destination | None) -> None:
        self.runs_dir = plan.paths.runs_dir
        self.destination = destination
        self._history: tuple[dict[str, str], set[str]] | None = None
        self._names: list[str] | None = None

    def of(self, spec: FeedSpec) -> str | None:
        if self._history is None:
            self._history = RunStore(self.runs_dir).feed_history()
        committed, exported = self._history
        if spec.name in committed:
            return f"run {committed[spec.name]} in {self.runs_dir} committed a delivery of it"
        if spec.name in exported or self.destination is None:
            # Files of the feed at the destination are then from those runs, which never committed
            # (killed before their commit): not a lost state.
            return None
        if self._names is None:
            try:
                self._names = self.destination.names()
            except NotImplementedError:
                self._names = []
        pattern = feed_file_pattern(spec)
        found = sorted(
            name for name in self._names
            if pattern.fullmatch(name) or temporary_of(name, lambda final: bool(pattern.fullmatch(final)))
        )
        if not found:
            return None
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        return f"{self.destination.describe()} holds its files ({shown})"


def _why_empty(entry: FeedRecord) -> str:
    """Where a feed's source rows went, for a refusal of an empty file: exclusions and quarantine."""
    parts = []
    if entry.excluded:
        rules = ", ".join(f"{count} {rule}" for rule, count in entry.excluded.items())
        parts.append(f"{sum(entry.excluded.values())} source rows excluded ({rules})")
    if entry.rejected_rows:
        reasons = ", ".join(f"{count} {reason}" for reason, count in entry.rejects.items())
        parts.append(f"{entry.rejected_rows} rows quarantined ({reasons})")
    return ": " + "; ".join(parts) if parts else ": the source has no rows for it"


def check_gates(plan: RunPlan, feeds: list[FeedPlan], run: Progress) -> None:
    """Refuse the whole run (nothing exported or delivered) when a feed looks wrong, unless --force."""
    gates, record = plan.gates, run.record
    refusals = []
    for feed_plan in feeds:
        name, prepared = feed_plan.spec.name, feed_plan.prepared
        if feed_plan.lost_state:
            refusals.append(
                f"{name}: the delivery state {plan.paths.state_file} has no delivery of this feed, but "
                f"{feed_plan.lost_state}. Was the state file lost? Restore it, or re-establish it by sending "
                "every row once: --full (full files) or --force"
            )
        elif prepared.mode == "full":
            if prepared.total_rows == 0:
                why = _why_empty(record.feeds[name])
                refusals.append(f"{name}: the full file would be empty{why}")
            elif prepared.last_full_rows and prepared.total_rows < prepared.last_full_rows * (1 - gates.max_shrink):
                refusals.append(
                    f"{name}: the full file would hold {prepared.total_rows} rows, "
                    f"{1 - prepared.total_rows / prepared.last_full_rows:.0%} fewer than the {prepared.last_full_rows} "
                    f"last delivered (gates.max_shrink is {gates.max_shrink:.0%})"
                )
        elif prepared.has_state and prepared.changed_rows > gates.max_delta_share * prepared.total_rows:
            refusals.append(
                f"{name}: the delta holds {prepared.changed_rows} of {prepared.total_rows} rows "
                f"({prepared.changed_rows / prepared.total_rows:.0%}, gates.max_delta_share is "
                f"{gates.max_delta_share:.0%}); was the delivery state lost or the warehouse rebuilt?"
            )
    record.gates = {"refused": refusals, "forced": bool(refusals and plan.force)}
    if not refusals:
        return
    if plan.force:
        for refusal in refusals:
            run.reporter.warn(f"gate overridden by --force: {refusal}")
        return
    for entry in record.feeds.values():
        entry.status = "skipped"
    raise GateRefused(
        "safety gate refused the run; nothing was exported or delivered:\n  "
        + "\n  ".join(refusals)
        + "\nIf this is expected, run once with --force (the run record notes it); adjust gates: in feeds.yml otherwise"
    )
