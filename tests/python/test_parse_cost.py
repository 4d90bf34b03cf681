"""What a scheduled run pays around dbt (issue 15, steady-state cost).

The parse before a build writes target/manifest.json; dbt build used to write it again when it
ended, which costs more than an unchanged project's partial parse. The build now leaves it alone
and writes only run_results.json. And dbt's partial parse survives a change of store: the DuckDB
path reaches dbt relative to the working directory, so stores laid out alike share one parse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from runner.build import DbtProject, _dbt_duckdb_path

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


def _plant(manifest: Path) -> None:
    """Add a key dbt never writes, to see whether the next parse rewrote the file."""
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["feeds_planted"] = True
    manifest.write_text(json.dumps(document), encoding="utf-8")


def _planted(manifest: Path) -> bool:
    return "feeds_planted" in json.loads(manifest.read_text(encoding="utf-8"))


def test_a_parse_that_finds_nothing_changed_keeps_manifest_json(
    fresh_demo_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    store = fresh_demo_db("parse-unchanged")
    manifest, saved = tmp_path / "target" / "manifest.json", tmp_path / "target" / "partial_parse.msgpack"
    declared = DbtProject(REPO, store, log_dir=tmp_path / "logs").feeds()  # a full parse writes both
    assert manifest.is_file() and saved.is_file()

    # Nothing changed: dbt skips parsing, and the manifest.json written after its saved state stays.
    _plant(manifest)
    project = DbtProject(REPO, store, log_dir=tmp_path / "logs")
    project.parse()
    assert _planted(manifest), "an unchanged parse rewrote manifest.json"
    assert manifest.stat().st_mtime_ns >= saved.stat().st_mtime_ns
    assert DbtProject(REPO, store, log_dir=tmp_path / "logs").feeds() == declared  # read from the file

    # A manifest.json older than the saved state (dbt parse --no-write-json run by hand) is rewritten.
    _plant(manifest)
    before = saved.stat().st_mtime_ns
    os.utime(manifest, ns=(before - 10**9, before - 10**9))
    DbtProject(REPO, store, log_dir=tmp_path / "logs").parse()
    assert not _planted(manifest)

    # A manifest.json cut short (a run stopped while writing it) is rewritten, whole.
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text[: len(text) // 2], encoding="utf-8")
    DbtProject(REPO, store, log_dir=tmp_path / "logs").parse()
    assert json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    assert not list(manifest.parent.glob(".manifest.json.*"))

    # Another store's path is a change of vars: dbt parses again, and the manifest is rewritten.
    _plant(manifest)
    DbtProject(REPO, fresh_demo_db("parse-changed"), log_dir=tmp_path / "logs").parse()
    assert not _planted(manifest)
    assert saved.stat().st_mtime_ns > before


def in_store(store: Path, code: str, target: Path) -> None:
    """Run `code` (runner.build's DbtProject as `DbtProject`, the store as `store`) in a new Python
    process started in the store's folder, as `feeds` is run there."""
    script = f"from pathlib import Path\nfrom runner.build import DbtProject\nstore = Path({str(store)!r})\n{code}"
    env = {**os.environ, "DBT_TARGET_PATH": str(target), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], cwd=store.parent, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_stores_laid_out_alike_share_one_parse_and_each_builds_into_its_own_file(
    fresh_demo_db, tmp_path: Path
) -> None:
    # Two shops, each a folder with its own feeds.duckdb, one dbt project and target folder: dbt
    # keys its partial-parse state by the --vars and connection settings, the DuckDB path among them.
    first, second = fresh_demo_db("shop-a"), fresh_demo_db("shop-b")
    target = tmp_path / "target"
    in_store(first, f"DbtProject(Path({str(REPO)!r}), store, log_dir=store.parent / 'logs').parse()", target)
    in_store(second, f"""
project = DbtProject(Path({str(REPO)!r}), store, log_dir=store.parent / "logs")
project.parse()
summary = project.build(["listrak_status_codes"])
assert summary.success, summary.to_json()
""", target)
    assert "Unable to do partial parsing" in (first.parent / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "Unable to do partial parsing" not in (second.parent / "logs" / "dbt.log").read_text(encoding="utf-8")

    # The shared parse builds into the store the run was given, not the first one parsed.
    seeded = "select count(*) from information_schema.tables where table_name = 'listrak_status_codes'"
    counts = {}
    for store in (first, second):
        with duckdb.connect(str(store), read_only=True) as connection:
            counts[store] = connection.execute(seeded).fetchone()[0]
    assert counts == {first: 0, second: 1}


def test_after_a_change_of_directory_dbt_gets_the_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # dbt-duckdb keeps its connection between invocations in one process and reopens only for other
    # settings: a relative path given from another directory would reach the file opened before.
    store = tmp_path / "feeds.duckdb"
    monkeypatch.chdir(tmp_path)
    assert _dbt_duckdb_path(store) == str(store)


def test_a_symlinked_store_keeps_its_own_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # dbt-duckdb names the database after the file name it is given: a link keeps the link's name.
    import runner.build

    (tmp_path / "real.duckdb").touch()
    (tmp_path / "shop.duckdb").symlink_to(tmp_path / "real.duckdb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner.build, "_STARTED_IN", Path.cwd())
    assert _dbt_duckdb_path(tmp_path / "shop.duckdb") == "shop.duckdb"
    assert _dbt_duckdb_path(Path("shop.duckdb")) == "shop.duckdb"


def test_dbt_ls_answers_are_kept_while_the_parse_finds_nothing_changed(
    fresh_demo_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dbt ls` (which models, sources and nodes a selection picks) is asked once per saved parse
    state and command line: a new model is picked at once, by the parse that finds it."""
    import shutil

    from runner.build import LS_CACHE

    project_dir = tmp_path / "project"
    for name in ("models", "macros", "seeds", "profiles", "tests"):
        shutil.copytree(REPO / name, project_dir / name)
    shutil.copy(REPO / "dbt_project.yml", project_dir / "dbt_project.yml")
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    store = fresh_demo_db("parse-ls")
    asked: list[list[str]] = []
    invoke = DbtProject._invoke

    def counting(self: DbtProject, args: list[str], callbacks=None):  # type: ignore[no-untyped-def]
        if "ls" in args:
            asked.append(args)
        return invoke(self, args, callbacks)

    monkeypatch.setattr(DbtProject, "_invoke", counting)

    def downstream() -> list[str]:
        return DbtProject(project_dir, store, log_dir=tmp_path / "logs").models(["listrak_products+"])

    first = downstream()  # a full parse: asked, not kept (the manifest is not a saved state yet)
    assert "listrak_products" in first and len(asked) == 1
    assert not (tmp_path / "target" / LS_CACHE).exists()
    assert downstream() == first and len(asked) == 2  # nothing changed: asked once more, and kept
    assert downstream() == first and len(asked) == 2  # answered from target/feeds_ls.json
    (tmp_path / "target" / LS_CACHE).write_text("{not json", encoding="utf-8")  # cut short, say
    assert downstream() == first and len(asked) == 3  # asked again, and kept again
    assert downstream() == first and len(asked) == 3

    (project_dir / "models" / "zz_probe.sql").write_text("select * from {{ ref('listrak_products') }}\n")
    assert set(downstream()) == {*first, "zz_probe"} and len(asked) == 4  # parsed again: asked
    assert set(downstream()) == {*first, "zz_probe"} and len(asked) == 5  # the new state: asked, kept
    assert set(downstream()) == {*first, "zz_probe"} and len(asked) == 5
