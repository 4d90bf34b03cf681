"""Shared pytest fixtures: fresh DuckDB files with demo data, and dbt run through its Python API.

Everything is real: the demo data comes from `runner.warehouse.demo`, dbt runs in-process via
`dbtRunner` against the project at the repository root with `--profiles-dir profiles`, and
`FEEDS_DUCKDB_PATH` points the profile at the test's own DuckDB file (by its name, from its folder,
so that one dbt parse serves every file: see run_dbt).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Each pytest process (pytest-xdist runs one per core) gets its own dbt target folder for the
# `feeds` commands the tests start on the project (runner/build.py honours DBT_TARGET_PATH): two
# processes writing one manifest.json or partial_parse.msgpack at once would read each other's
# half-written files. A worker inherits the controller's environment, so it always sets its own.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ["DBT_TARGET_PATH"] = str(PROJECT_DIR / "target" / f"pytest-{_WORKER}")
else:
    os.environ.setdefault("DBT_TARGET_PATH", str(PROJECT_DIR / "target" / "pytest"))

#: The slowest test files, longest first (seconds on one process in a local run of scripts/test:
#: 510, 420, 350, 345, 310, 250, then under 140 each): pytest-xdist hands whole files to its
#: processes in this order (scripts/test: --no-loadscope-reorder), so no long file starts last and
#: leaves one core idle at the end.
SLOW_FIRST = ("test_delta.py", "test_incremental.py", "test_incremental_property.py", "test_fivetran_shapes.py",
              "test_target_spark.py", "test_test_scope.py", "test_cli.py", "test_noloss.py", "test_operations.py",
              "test_incremental_postgres.py", "test_target_postgres.py", "test_data_rules.py", "test_ftp_noloss.py",
              "test_models.py", "test_ops.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: file order kept otherwise


#: Fixed clock for demo data, so tests do not depend on the hour they run.
DEMO_AS_OF = datetime(2026, 1, 15, 12, 0, 0)


@dataclass
class DbtRun:
    """Outcome of one dbt invocation: overall success and every node's (name -> status)."""

    success: bool
    statuses: dict[str, str]
    exception: BaseException | None
    #: Each node's (name -> message): a failing model's error, a test's failure count.
    messages: dict[str, str]
    #: dbt's target folder for this run (compiled/ and run/ hold this run's SQL only).
    target: Path
    #: What the command returned (`dbtRunnerResult.result`): the Manifest of `parse`, the lines of `ls`.
    result: Any

    def named(self, status: str) -> set[str]:
        """Names of the nodes that ended with `status` (pass, warn, fail, error, success, ...)."""
        return {name for name, value in self.statuses.items() if value == status}


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def run_dbt(args: list[str], duckdb_path: Path, *, dbt_vars: dict[str, Any] | None = None) -> DbtRun:
    """Run `dbt <args>` in-process against `duckdb_path`; logs go beside the DuckDB file.

    dbt keeps its partial parse (in-process, a full parse of this project costs ~4 s of CPU, a partial
    one under 1 s) only while the vars, the profile (the DuckDB path among it) and the target folder
    stay the same. So dbt runs from the file's folder and is given the file by name, into a target folder
    this pytest process keeps per vars and file name: every store of one name shares one parse, as
    runner.build does for feeds.
    """
    from dbt.cli.main import dbtRunner

    target = dbt_target(PROJECT_DIR, {**(dbt_vars or {}), "FEEDS_DUCKDB_PATH": duckdb_path.name})
    for folder in ("compiled", "run"):  # what this run compiles, never a file an earlier run left
        shutil.rmtree(target / folder, ignore_errors=True)
    cli_args = [
        *args,
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR / "profiles"),
        "--target-path", str(target),
        "--log-path", str(duckdb_path.parent / "logs"),
    ]
    if dbt_vars:
        cli_args += ["--vars", yaml.safe_dump(dbt_vars, default_flow_style=True).strip()]
    _close_dbt_duckdb()
    try:
        with _env("FEEDS_DUCKDB_PATH", duckdb_path.name), contextlib.chdir(duckdb_path.parent):
            result = dbtRunner().invoke(cli_args)
    finally:
        _close_dbt_duckdb()
    statuses: dict[str, str] = {}
    messages: dict[str, str] = {}
    for node_result in getattr(result.result, "results", None) or []:
        statuses[node_result.node.name] = str(node_result.status)
        messages[node_result.node.name] = node_result.message or ""
    return DbtRun(success=result.success, statuses=statuses, exception=result.exception, messages=messages,
                  target=target, result=result.result)


def dbt_target(project: Path, settings: dict[str, Any]) -> Path:
    """A target folder of this pytest process for one project and one set of vars and profile settings."""
    key = hashlib.sha256(json.dumps([str(project), settings], sort_keys=True).encode()).hexdigest()[:12]
    worker = Path(os.environ["DBT_TARGET_PATH"])
    return worker.with_name(f"{worker.name}-dbt-{key}")


def _close_dbt_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open in this process.

    dbt-duckdb reuses its open DuckDB file for the next invocation whose connection settings are
    equal, and the relative path run_dbt gives is equal for every store of one name: without this,
    the next run from another folder would read and write the file of the run before.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager.close_all_connections()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DuckDB file with 1,000 demo orders (seed 42), generated once per session; copy, don't write."""
    from runner.warehouse.demo import generate

    path = tmp_path_factory.mktemp("demo-template") / "feeds.duckdb"
    generate(path, orders=1000, seed=42, as_of=DEMO_AS_OF)
    return path


@pytest.fixture(scope="session")
def fresh_demo_db(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Factory: `fresh_demo_db("name")` returns a private copy of the demo DuckDB file in its own tmp dir."""

    def make(name: str) -> Path:
        path = tmp_path_factory.mktemp(name) / "feeds.duckdb"
        shutil.copyfile(demo_template, path)
        return path

    return make
