"""Behaviour fixed in place: at a fixed seed, clock and --date, `feeds run` writes byte-identical files
and records the same counts. A refactor that changes a byte of any feed, or one count of the run
record, fails here; a deliberate change of output updates GOLDEN in the same commit, saying why."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from workspace import Workspace

from runner.warehouse.demo import generate

AS_OF = datetime(2026, 1, 15, 12, 0, 0)
DATE = "2026-01-14"

#: Each delivered file's name and sha256, and the run record's counts, at orders=600, seed=11, AS_OF, DATE.
GOLDEN = {
    "customers": {
        "file": "Listrak_Customer_20260114.csv", "mode": "delta", "bytes": 14120,
        "sha256": "eeb12ed9f788d2f65c6e42e09ae6bcb641c0fa4cdffa0469269e2856e586105f",
        "total_rows": 187, "changed_rows": 187, "carried_rows": 0, "rows": 187,
        "rejects": {"missing_email": 1}, "rejected_rows": 1,
        "excluded": {"deleted_customer": 3, "duplicate_email": 9}, "truncated": {},
    },
    "order_items": {
        "file": "Listrak_OrderItem_Feed_20260114.csv", "mode": "delta", "bytes": 128242,
        "sha256": "7e4f0e93863c5f111a225d26b782445c4ff6940087f0157080c5083b7b1dacab",
        "total_rows": 1341, "changed_rows": 1341, "carried_rows": 0, "rows": 1341,
        "rejects": {"missing_email": 83, "missing_sku": 7}, "rejected_rows": 89,
        "excluded": {"deleted_order": 1, "test_order": 27}, "truncated": {},
    },
    "orders": {
        "file": "Listrak_Order_Feed_20260114.csv", "mode": "delta", "bytes": 85401,
        "sha256": "d58df3e2fbf2631b2f180123b3656602f34f0552968e6e00be12493d7331d3af",
        "total_rows": 558, "changed_rows": 558, "carried_rows": 0, "rows": 558,
        "rejects": {"missing_email": 32}, "rejected_rows": 32,
        "excluded": {"deleted_order": 1, "test_order": 9}, "truncated": {},
    },
    "products": {
        "file": "Listrak_Product_Feed_20260114.csv", "mode": "full", "bytes": 41572,
        "sha256": "0b63c21e3a1f96d8cbf8491458a039d6ec943e616fe5072fadbe0b382375eeb1",
        "total_rows": 68, "changed_rows": 68, "carried_rows": 0, "rows": 68,
        "rejects": {}, "rejected_rows": 0,
        "excluded": {"deleted_product": 2, "draft": 1}, "truncated": {},
    },
}

#: sorted_lines_sha256 of each golden file.
SORTED_LINES = {
    # Three files sort by bytes as they sort by key (the key leads each line): the same digest as the file's.
    "customers": "eeb12ed9f788d2f65c6e42e09ae6bcb641c0fa4cdffa0469269e2856e586105f",
    "order_items": "7e4f0e93863c5f111a225d26b782445c4ff6940087f0157080c5083b7b1dacab",
    "orders": "37b68d397e2f1d577a30998c8b8521e71cb609fe7210826f3b66c854b97cd120",
    "products": "0b63c21e3a1f96d8cbf8491458a039d6ec943e616fe5072fadbe0b382375eeb1",
}

COUNTED = ("mode", "total_rows", "changed_rows", "carried_rows", "rows", "bytes", "sha256",
           "rejects", "rejected_rows", "excluded", "truncated")


def sorted_lines_sha256(path: Path) -> str:
    """The SHA-256 of the file's header line followed by its data lines sorted by bytes: equal for
    two files with the same header and the same rows in any order (a warehouse target's files leave
    row order free; DuckDB's are in key order)."""
    header, _, body = path.read_bytes().partition(b"\n")
    return hashlib.sha256(header + b"\n" + b"".join(sorted(body.splitlines(keepends=True)))).hexdigest()


def counted(record: dict) -> dict[str, dict]:
    """Each feed of a run record as GOLDEN holds it: its COUNTED entries and its file's name. The
    record's digest is of the exported file; the delivered copy must hash the same."""
    found = {}
    for name, entry in record["feeds"].items():
        delivered = Path(entry["remote_path"])
        assert hashlib.sha256(delivered.read_bytes()).hexdigest() == entry["sha256"], name
        found[name] = {key: entry[key] for key in COUNTED} | {"file": delivered.name}
    return found


def same_rows_as_golden(record: dict) -> dict[str, dict]:
    """A warehouse run's record, as GOLDEN holds it when its files hold GOLDEN's header and rows in
    any order: the file's sha256 (which depends on row order) replaced by GOLDEN's when the delivered
    file's sorted lines are the golden file's."""
    found = counted(record)
    for name, entry in record["feeds"].items():
        if name in GOLDEN and sorted_lines_sha256(Path(entry["remote_path"])) == SORTED_LINES[name]:
            found[name]["sha256"] = GOLDEN[name]["sha256"]
    return found


def observed(tmp_path: Path) -> dict:
    """The run record of the golden run: demo store of seed 11 at AS_OF, `feeds run --date DATE`."""
    space = Workspace(tmp_path / "golden", generate_data=False)
    generate(space.duckdb, orders=600, seed=11, as_of=AS_OF)
    result = space.feeds("run", "--date", DATE)
    assert result.returncode == 0, result.stdout + result.stderr
    (record_path,) = (space.root / "state" / "runs").glob("*.json")
    return json.loads(record_path.read_text(encoding="utf-8"))


def test_feed_files_and_run_counts_are_unchanged(tmp_path: Path) -> None:
    record = observed(tmp_path)
    found = counted(record)
    assert found == GOLDEN, json.dumps(found, indent=2, sort_keys=True)
    # The golden files' sorted lines, which the warehouse targets' files are held to.
    assert {name: sorted_lines_sha256(Path(entry["remote_path"])) for name, entry in record["feeds"].items()} \
        == SORTED_LINES
