"""What a scheduled run pays around dbt (issue 15, steady-state cost).

The parse before a build writes target/manifest.json; dbt build used to write it again when it
ended, which costs more than an unchanged project's partial parse. The build now leaves it alone
and writes only run_results.json.
"""

from __future__ import annotations

import json
from pathlib import Path

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
