"""The demo generator's SQL files and the inputs it binds into them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from runner.warehouse.demo import GRAPHQL_SCRIPTS, SCRIPTS, generate
from runner.errors import ConfigError
from workspace import feeds_command


def test_every_sql_file_is_run() -> None:
    """A .sql file added to runner/warehouse/demo/sql but not to SCRIPTS would silently never run."""
    shipped = {entry.name for entry in resources.files("runner.warehouse.demo").joinpath("sql").iterdir()
               if entry.name.endswith(".sql")}
    assert shipped == {f"{name}.sql" for name in (*SCRIPTS, *GRAPHQL_SCRIPTS)}


@pytest.mark.parametrize("seed", [2**63, -(2**63) - 1])
def test_seed_outside_bigint_is_a_config_error(tmp_path: Path, seed: int) -> None:
    with pytest.raises(ConfigError, match="--seed must be a whole number"):
        generate(tmp_path / "x.duckdb", orders=10, seed=seed)


def test_cli_names_a_seed_out_of_range(tmp_path: Path) -> None:
    result = feeds_command("demo-data", "--orders", "10", "--seed", str(2**64),
                           env={"FEEDS_DUCKDB_PATH": str(tmp_path / "x.duckdb")})
    assert result.returncode == 2, result.stderr
    assert "--seed must be a whole number" in result.stderr and "Traceback" not in result.stderr


def test_schema_named_like_a_keyword(tmp_path: Path) -> None:
    """The schema is the one value spliced into SQL text, quoted: a reserved word still works."""
    counts = generate(tmp_path / "x.duckdb", orders=10, schema="select")
    assert counts["order"] == 10


def test_file_named_like_the_schema(tmp_path: Path) -> None:
    """shopify.duckdb holds a database called shopify; the schema shopify must still be the target."""
    counts = generate(tmp_path / "shopify.duckdb", orders=10)
    assert counts["order"] == 10
