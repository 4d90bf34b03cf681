"""Apache Spark through dbt-spark's `session` method: the SparkSession dbt uses, in this process.

Out (export): Spark writes each relation as parquet files into a local scratch folder, in parallel
and in bounded memory, and DuckDB reads them into the local staging file (runner.warehouse.target).
Spark timestamps are instants (shown in the session time zone, UTC in the profile); they are written
as TIMESTAMP_NTZ so DuckDB reads the same wall-clock values as plain TIMESTAMP.
In (demo data): DuckDB writes each raw table as parquet, Spark saves it as a table.

Clusters (`thrift`, `http`, Databricks) do not share this machine's disk: exporting from them is not
supported yet (README "Run on your warehouse"); dbt builds there all the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from runner.errors import ConfigError, ExportError
from runner.warehouse.sql import identifier, literal


def _session(handle: Any) -> Any:
    """The session dbt-spark's `session` method uses (same configuration; one per process)."""
    parameters = getattr(getattr(handle, "handle", None), "server_side_parameters", None)
    if parameters is None:
        raise ConfigError(
            "feeds reads Spark marts through a local session (dbt-spark method: session); "
            "for a thrift/http cluster or Databricks, export is not supported yet"
        )
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in parameters.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # Spark's INFO/WARN lines would bury the command's own output on stderr.
    session.sparkContext.setLogLevel("ERROR")
    return session


def _quoted(schema: str, name: str) -> str:
    return f"`{schema.replace('`', '``')}`.`{name.replace('`', '``')}`"


def copy_out(handle: Any, relations: list[tuple[str, str, tuple[str, ...] | None]], duck: duckdb.DuckDBPyConnection,
             scratch: Path, where: str) -> list[tuple[str, str]]:
    """Copy each (schema, name, columns) into the same-named DuckDB table (only `columns` when
    given); return the (schema, name)s Spark lacks."""
    spark = _session(handle)
    from pyspark.sql import functions
    from pyspark.sql.types import TimestampType

    missing: list[tuple[str, str]] = []
    try:
        for schema, name, wanted in relations:
            if not spark.catalog.tableExists(f"{schema}.{name}"):
                missing.append((schema, name))
                continue
            frame = spark.table(_quoted(schema, name))
            frame = frame.select(*[
                functions.col(f"`{field.name}`").cast("timestamp_ntz").alias(field.name)
                if isinstance(field.dataType, TimestampType) else functions.col(f"`{field.name}`")
                for field in frame.schema.fields if wanted is None or field.name in wanted
            ])
            folder = scratch / f"{schema}.{name}"
            frame.write.mode("overwrite").parquet(str(folder))
            duck.execute(f"create schema if not exists {identifier(schema)}")
            duck.execute(
                f"create or replace table {identifier(schema)}.{identifier(name)} as "
                f"select * from read_parquet({literal(str(folder / '*.parquet'))})"
            )
    except duckdb.Error as exc:
        raise ExportError(f"reading {where}: DuckDB could not load the copy: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # py4j / pyspark errors
        if isinstance(exc, (ConfigError, ExportError)):
            raise
        raise ExportError(f"reading {where} failed: {str(exc).strip().splitlines()[0]}") from None
    return missing


def missing_tables(handle: Any, tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    spark = _session(handle)
    return [(schema, table) for schema, table in tables
            if not spark.catalog.databaseExists(schema) or not spark.catalog.tableExists(f"{schema}.{table}")]


def preview(handle: Any, schema: str, name: str, key: tuple[str, ...], limit: int) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """The first `limit` rows of schema.name by `key`, with column names; None if it does not exist."""
    spark = _session(handle)
    if missing_tables(handle, [(schema, name)]):
        return None
    frame = spark.table(_quoted(schema, name)).orderBy(*[f"`{column}`" for column in key]).limit(int(limit))
    return list(frame.columns), [tuple(row) for row in frame.collect()]


def table_columns(handle: Any, schema: str) -> dict[str, set[str]]:
    """The tables and views of `schema` with their columns, all names lower-cased."""
    spark = _session(handle)
    try:
        if not spark.catalog.databaseExists(schema):
            return {}
        return {table.name.lower(): {column.lower() for column in spark.table(_quoted(schema, table.name)).columns}
                for table in spark.catalog.listTables(schema)}
    except Exception as exc:  # py4j / pyspark errors
        raise ConfigError(f"reading the tables of schema {schema} failed: {str(exc).strip().splitlines()[0]}") from None


def load_tables(handle: Any, duck: duckdb.DuckDBPyConnection, schema: str, tables: list[str], scratch: Path) -> None:
    """Replace `schema`.<table> in Spark with DuckDB's table of the same name, through parquet files."""
    spark = _session(handle)
    try:
        spark.sql(f"create database if not exists `{schema}`")
        for table in tables:
            path = scratch / f"{table}.parquet"
            duck.execute(f"copy {identifier(schema)}.{identifier(table)} to {literal(str(path))} (format parquet)")
            spark.read.parquet(str(path)).write.mode("overwrite").format("parquet").saveAsTable(_quoted(schema, table))
    except Exception as exc:
        raise ConfigError(f"loading demo data into Spark failed: {str(exc).strip().splitlines()[0]}") from None
