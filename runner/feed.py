"""What a feed is, as plain values: read from dbt's manifest by `runner.build`, used by export,
validation and the CLI. Nothing here imports dbt or DuckDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    """One column of a feed mart, in file order."""

    name: str
    #: The contracted data type of the mart column: varchar, integer, decimal(18,2), timestamp, date, boolean.
    data_type: str
    #: Maximum length in characters, from the column's `max_length` data test.
    max_length: int | None = None
    #: Whether a value is required, from the column's `not_null` data test.
    required: bool = False

    @property
    def kind(self) -> str:
        """text, integer, decimal, timestamp, date or boolean."""
        base = self.data_type.lower().split("(")[0].strip()
        return {
            "varchar": "text",
            "text": "text",
            "string": "text",
            "integer": "integer",
            "int": "integer",
            "bigint": "integer",
            "decimal": "decimal",
            "numeric": "decimal",
            "double": "decimal",
            "timestamp": "timestamp",
            "date": "date",
            "boolean": "boolean",
            "bool": "boolean",
        }.get(base, "text")


@dataclass(frozen=True)
class Rule:
    """One data test of a feed mart as the manifest declares it, so `feeds validate` checks a file
    by the same rules dbt checks the mart with."""

    #: The generic test: not_null, unique, max_length, email_format, accepted_values, value_in_seed,
    #: listrak_accepted_range, listrak_expression_is_true, no_line_breaks, listrak_unique_combination,
    #: relationships, ...
    test: str
    #: The test node's name, e.g. listrak_products_sale_price_not_above_price.
    name: str
    #: The column it is attached to; None for a model-level test.
    column: str | None = None
    #: The test's arguments (kwargs) as written in YAML; email_format also carries `pattern`, the
    #: regular expression of the project's email_regex macro; value_in_seed carries `values`, its seed's.
    arguments: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: error or warn, as dbt runs it.
    severity: str = "error"


@dataclass(frozen=True)
class Feed:
    """A Listrak feed: a mart table plus how its file is named and keyed."""

    #: Short name used in configuration and on the command line: orders, order_items, customers, products.
    name: str
    #: dbt model name, e.g. listrak_orders.
    model: str
    #: Fully qualified, quoted relation to read from, e.g. "feeds"."main"."listrak_orders".
    relation: str
    #: File name template without extension; `{date}` is replaced by the run date.
    file_name: str
    #: Columns forming the feed's primary key.
    key: tuple[str, ...]
    #: Default delivery mode (full or delta), overridable in feeds.yml.
    mode: str = "full"
    columns: tuple[Column, ...] = field(default_factory=tuple)
    #: The rejects model that quarantines rows this feed cannot carry, and its relation, if any.
    rejects_model: str | None = None
    rejects_relation: str | None = None
    #: The mart's data tests (column and model level), read from the manifest.
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]
