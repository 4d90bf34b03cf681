"""Run ids order the history: `feeds history`, the last run `feeds upload` resends and the delivered
files a run finds committed all read the records in run id order, so ids must sort as runs started,
also for runs started within one second (a `feeds sample` right after a `feeds run`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from runner.record import RunStore, new_run_id


def test_runs_started_within_one_second_sort_in_the_order_they_started() -> None:
    start = datetime(2026, 12, 1, 4, 0, 0, 0, tzinfo=timezone.utc)
    for step in range(0, 1000, 7):
        # Each pair 1-7 ms apart: whatever the random suffixes, the earlier run sorts first.
        earlier = new_run_id(start + timedelta(milliseconds=step))
        later = new_run_id(start + timedelta(milliseconds=step + 1))
        assert earlier < later, (earlier, later)


def test_the_newest_record_comes_first_and_ids_of_either_form_are_read(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    first = store.start("run")
    second = store.start("sample")
    store.finish(first)
    store.finish(second)
    assert [record.command for record in store.recent()] == ["sample", "run"]
    # Ids written before milliseconds were added are still valid names of records.
    old = "20261130T120000Z-abcd"
    (tmp_path / "runs" / f"{old}.json").write_text((tmp_path / "runs" / f"{first.run_id}.json").read_text().replace(first.run_id, old))
    assert store.get(old) is not None and store.get(old).run_id == old
