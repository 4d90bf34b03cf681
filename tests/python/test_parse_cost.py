"""What a scheduled run pays around dbt (issue 15, steady-state cost).

The parse before a build writes target/manifest.json; dbt build used to write it again when it
ended, which costs more than an unchanged project's partial parse. The build now leaves it alone
and writes only run_results.json. And dbt's partial parse survives a change of store: the DuckDB
path reaches dbt relative to the working directory, so stores laid out alike share one parse.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from runner.build import DbtProject

REPO = Path(__file__).resolve().parents[2]


def test_a_build_writes_run_results_but_not_the_manifest_again(
    fresh_demo_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    project = DbtProject(REPO, fresh_demo_db("parse-cost"), log_dir=tmp_path / "logs")
    declared = project.feeds()  # parses and writes the manifest
    manifest = tmp_path / "target" / "manifest.json"
    written = manifest.stat().st_mtime_ns

    summary = project.build(["listrak_status_codes"])
    assert summary.success, summary.to_json()
    assert manifest.stat().st_mtime_ns == written, "dbt build rewrote manifest.json"
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())
    assert "seed.listrak_feeds.listrak_status_codes" in {result["unique_id"] for result in results["results"]}
    # The manifest on disk is still the whole project's: another command reads the feeds from it.
    assert DbtProject(REPO, project.duckdb_path, log_dir=tmp_path / "logs").feeds() == declared


def test_stores_laid_out_alike_share_one_parse_and_each_builds_into_its_own_file(
    fresh_demo_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two shops, each a folder with its own feeds.duckdb, one dbt project and target folder: dbt
    # keys its partial-parse state by the --vars and connection settings, the DuckDB path among them.
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    first, second = fresh_demo_db("shop-a"), fresh_demo_db("shop-b")
    logs = {}
    for store in (first, second):
        monkeypatch.chdir(store.parent)
        logs[store] = store.parent / "logs"
        DbtProject(REPO, store, log_dir=logs[store]).parse()
    assert "Unable to do partial parsing" in (logs[first] / "dbt.log").read_text(encoding="utf-8")
    assert "Unable to do partial parsing" not in (logs[second] / "dbt.log").read_text(encoding="utf-8")

    # The shared parse still builds into the store the run was given, not the first one parsed.
    summary = DbtProject(REPO, second, log_dir=logs[second]).build(["listrak_status_codes"])
    assert summary.success, summary.to_json()
    seeded = "select count(*) from information_schema.tables where table_name = 'listrak_status_codes'"
    counts = {}
    for store in (first, second):
        with duckdb.connect(str(store)) as connection:
            counts[store] = connection.execute(seeded).fetchone()[0]
    assert counts == {first: 0, second: 1}
