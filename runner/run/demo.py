"""`feeds demo-data`: the demo store into the DuckDB file, or into the run's warehouse target.

A warehouse gets exactly the tables the DuckDB file would: they are generated into a local scratch
DuckDB file first and loaded in bulk (COPY FROM STDIN on PostgreSQL, parquet on Spark), never row by row.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from runner import incremental
from runner.config import Settings
from runner.run.paths import Paths
from runner.warehouse import target as targets
from runner.warehouse.demo import GRAPHQL_TABLES, TABLES, generate


def demo_data(
    settings: Settings, orders: int, seed: int, schema: str = "shopify", api: str = "rest"
) -> tuple[str, dict[str, int]]:
    """Write the demo raw tables (in the REST or GraphQL connector's shape); return where they went and the rows per table."""
    paths = Paths.of(settings)
    target = targets.resolve(paths.project_dir, paths.project_dir / "profiles", paths.target)
    # Raw tables replaced wholesale: rows may vanish without a change row, so the next build of the
    # incremental models must be a full one.
    incremental.forget(paths.state_dir, incremental.warehouse_key(target, paths.duckdb))
    if target.embedded:
        return str(paths.duckdb), generate(paths.duckdb, orders=orders, seed=seed, schema=schema, api=api)
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.state_dir, prefix=".demo-") as scratch:
        local = Path(scratch) / "demo.duckdb"
        counts = generate(local, orders=orders, seed=seed, schema=schema, api=api)
        targets.load_demo(target, local, schema, list(TABLES if api == "rest" else GRAPHQL_TABLES))
    return f"{target.describe()}, schema {schema}", counts
