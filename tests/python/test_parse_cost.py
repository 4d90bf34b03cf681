"""What a scheduled run pays for dbt's parse (issue 15, steady-state cost).

Writing target/manifest.json is most of an unchanged project's parse; the build that follows a run's
parse writes it again when it ends, so the parse before a build must not write it too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.build import DbtProject

REPO = Path(__file__).resolve().parents[2]


def test_the_parse_before_a_build_leaves_manifest_json_alone(
    fresh_demo_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    database = fresh_demo_db("parse-cost")
    manifest = tmp_path / "target" / "manifest.json"

    declared = DbtProject(REPO, database, log_dir=tmp_path / "logs").feeds()  # parses and writes the manifest
    written = manifest.stat().st_mtime_ns

    # A run's build step: a new project object parses (partially) for the source check, then builds.
    project = DbtProject(REPO, database, log_dir=tmp_path / "logs")
    assert {table.name for table in project.sources(["+listrak_products"])} >= {"product", "product_variant"}
    assert manifest.stat().st_mtime_ns == written, "the parse for the source check rewrote manifest.json"

    # Whoever then reads the feeds from the file still finds it, written from the parsed manifest.
    manifest.unlink()
    assert project.feeds() == declared
    assert manifest.is_file()
