"""Which Shopify API shape the raw tables have, for the dbt var `shopify_api` when the project
leaves it unset: Fivetran's REST connector and its GraphQL connector land tables of the same names
with different columns, and connections made after November 2025 rename some GraphQL tables.

The answer is a few dbt vars that `DbtProject` passes to every dbt invocation, so that dbt parses
(and the preflight checks) the staging folder of the shape that is actually there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runner import warehouse
from runner.errors import FeedsError
from runner.warehouse import target as targets

API_VAR = "shopify_api"
#: How macro shopify_source_select starts the message for a raw table lacking a required column.
SOURCE_COLUMN_ERROR = "Shopify source: table "
SCHEMA_VAR = "shopify_schema"
#: The dbt var naming the GraphQL refund-lines table (source shopify_gql.order_line_refund).
REFUND_LINES_VAR = "shopify_gql_order_line_refund_identifier"


def detect(tables: dict[str, set[str]]) -> dict[str, str]:
    """The vars for a schema's tables ({table: {column}}, lower case): GraphQL when the order table
    has GraphQL's status columns instead of REST's, with the refund-lines table of its generation."""
    order = tables.get("order", set())
    graphql = "display_financial_status" in order or ("financial_status" not in order and "currency_code" in order)
    if not graphql:
        return {}
    found = {API_VAR: "graphql"}
    if "order_line_refund" not in tables and "refund_line_item" in tables:
        found[REFUND_LINES_VAR] = "refund_line_item"
    return found


def shopify_vars(
    project_dir: Path, duckdb_path: Path, target: str | None = None, profiles_dir: Path | None = None
) -> dict[str, str]:
    """The vars `detect` gives for the schema var shopify_schema names, read on the dbt target the
    build runs on (None: the profile's default), unless dbt_project.yml sets shopify_api itself;
    nothing when the file, server or schema cannot be read (the preflight says why)."""
    project_vars = _project_vars(project_dir)
    if project_vars.get(API_VAR):
        return {}
    schema = str(project_vars.get(SCHEMA_VAR) or "shopify")
    if "{" in schema:
        return {}
    try:
        where = targets.resolve(project_dir, profiles_dir or project_dir / "profiles", target)
        if not where.embedded:
            return detect(targets.table_columns(where, schema))
        if not duckdb_path.is_file():
            return {}
        with warehouse.connect(duckdb_path) as connection:
            tables = warehouse.table_columns(connection, schema)
    except FeedsError:
        return {}
    return detect(tables)


def _project_vars(project_dir: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    variables = loaded.get("vars") if isinstance(loaded, dict) else None
    return variables if isinstance(variables, dict) else {}
