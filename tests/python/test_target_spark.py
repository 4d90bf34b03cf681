"""The project on Apache Spark (pyspark from PyPI, Java 17, dbt-spark `method: session`): `feeds
build --target spark` passes every model, seed, data test and unit test, and `feeds run --target
spark` writes the same four files (header and rows; row order is free there), with the same run counts as the DuckDB golden run.

A session lives in the process that opens it, and the local (Derby) metastore admits one process at
a time: every step runs as its own `feeds` process, in order, on one warehouse folder per session,
built once. Without Java or pyspark the tests skip, unless FEEDS_REQUIRE_TARGETS is set (CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_golden import AS_OF, DATE, GOLDEN, same_rows_as_golden
from warehouse_servers import required, spark_missing_reason
from workspace import Workspace, clean_environment

#: Loads the golden demo store (fixed clock) into Spark the way `feeds demo-data --target spark` does.
_LOAD = """
import sys
from datetime import datetime
from pathlib import Path
from runner.warehouse import target as targets
from runner.warehouse.demo import TABLES, generate
local = Path(sys.argv[1])
generate(local, orders=600, seed=11, as_of=datetime.fromisoformat(sys.argv[2]))
targets.load_demo(targets.resolve(Path(sys.argv[3]), Path(sys.argv[3]) / "profiles", "spark"), local, "shopify", list(TABLES))
"""


def spark_env(root: Path) -> dict[str, str]:
    return {
        "FEEDS_SPARK_WAREHOUSE": str(root / "spark-warehouse"),
        "FEEDS_SPARK_METASTORE": str(root / "metastore_db"),
        "FEEDS_SPARK_DRIVER_MEMORY": "1g",
        # 600 orders: one shuffle partition, one task per stage, instead of the profile's four.
        "FEEDS_SPARK_SHUFFLE_PARTITIONS": "1",
        # Two queries at once in the session's JVM: the build took 204 s instead of 237 s here.
        "FEEDS_SPARK_THREADS": "2",
        # Small queries: no whole-stage code generation, no adaptive re-planning, the JVM's quick
        # (C1) compiler and serial GC. The session's build and run took 142 s instead of 161 s here.
        "FEEDS_SPARK_CODEGEN": "false",
        "FEEDS_SPARK_ADAPTIVE": "false",
        "FEEDS_SPARK_JAVA_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    }


@pytest.fixture(scope="session")
def golden_on_spark(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, str]]:
    reason = spark_missing_reason()
    if reason:
        if required():
            pytest.fail(f"FEEDS_REQUIRE_TARGETS is set but Spark cannot run: {reason}")
        pytest.skip(reason)
    space = Workspace(tmp_path_factory.mktemp("spark-golden"), generate_data=False)
    env = spark_env(space.root)
    repo = Path(__file__).resolve().parents[2]
    loaded = subprocess.run(
        [sys.executable, "-c", _LOAD, str(space.root / "demo.duckdb"), AS_OF.isoformat(), str(repo)],
        cwd=space.root, env={**clean_environment(), **env}, capture_output=True, text=True, timeout=600, check=False,
    )
    if loaded.returncode != 0:
        message = f"Spark did not start or load: {loaded.stderr[-2000:]}"
        if required():
            pytest.fail(message)
        pytest.skip(message)
    built = space.feeds("build", "--target", "spark", env=env)
    assert built.returncode == 0, built.stdout + built.stderr[-5000:]
    ran = space.feeds("run", "--skip-build", "--target", "spark", "--date", DATE, "--json", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr[-5000:]
    return space, env


def _records(space: Workspace) -> list[dict]:
    paths = sorted((space.root / "state" / "runs").glob("*.json"))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def test_build_on_spark_passes_models_tests_and_unit_tests(golden_on_spark: tuple[Workspace, dict[str, str]]) -> None:
    space, _ = golden_on_spark
    (build,) = [record for record in _records(space) if record["command"] == "build"]
    assert build["dbt"]["success"], build["dbt"]
    counts = build["dbt"]["counts"]
    assert counts.get("pass", 0) + counts.get("success", 0) > 150, counts
    assert not counts.get("error") and not counts.get("fail"), counts


def test_spark_writes_the_duckdb_rows_and_counts(golden_on_spark: tuple[Workspace, dict[str, str]]) -> None:
    space, _ = golden_on_spark
    (run,) = [record for record in _records(space) if record["command"] == "run"]
    # Same header and rows (in any order: row order is free on a warehouse target), same counts.
    found = same_rows_as_golden(run)
    assert found == GOLDEN, json.dumps(found, indent=2, sort_keys=True)


def test_incremental_models_are_rebuilt_whole_on_spark(golden_on_spark: tuple[Workspace, dict[str, str]]) -> None:
    # Plain Parquet tables offer no delete: each build rebuilds them, and the record says so.
    space, _ = golden_on_spark
    (build,) = [record for record in _records(space) if record["command"] == "build"]
    modes = build["dbt"]["incremental"]
    assert len(modes) == 16, modes  # eight intermediate models, four rejects, four marts
    assert {(entry["mode"], entry["reason"]) for entry in modes.values()} == {
        ("full", "rebuilt whole on this target (table)")}


def test_preview_reads_the_mart_on_spark(golden_on_spark: tuple[Workspace, dict[str, str]]) -> None:
    space, env = golden_on_spark
    shown = space.feeds("preview", "orders", "--limit", "3", "--target", "spark", env=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr[-3000:]
    assert "OrderNumber" in shown.stdout and "listrak_orders" in shown.stdout
