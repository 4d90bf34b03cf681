"""The DuckDB reader behind `feeds validate`: the file read with `read_csv(all_varchar = true,
strict_mode = true, store_rejects = true)` in an in-memory database, DuckDB's rejects (wrong field
count, bad bytes, an unbalanced quote) turned into problems with their row, and the other rows
checked with one query (`file_checks`). Sniffing the file's format stays with the caller."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from runner.config import FeedFormat
from runner.feed import Feed, Rule
from runner.warehouse.connection import Connection
from runner.warehouse.file_checks import checks_sql, rule_expression, typed_sql
from runner.warehouse.sql import literal

_REJECT_RULES = {
    "MISSING COLUMNS": "field_count",
    "TOO MANY COLUMNS": "field_count",
    "INVALID ENCODING": "encoding",
    "INVALID UNICODE": "encoding",
    "UNQUOTED VALUE": "quoting",
    "LINE SIZE OVER MAXIMUM": "line_size",
}


@dataclass(frozen=True)
class Problem:
    """One way a file breaks the feed contract."""

    #: 1-based data row (0 is the header); None for the file as a whole.
    row: int | None
    column: str | None
    #: encoding, header, delimiter, field_count, quoting, format, required, type, max_length,
    #: line_break, unique, email_format, accepted_values, accepted_range, expression_is_true, more.
    rule: str
    message: str


@dataclass(frozen=True)
class Dialect:
    """How to read a delimited text file, as the caller detected it."""

    delimiter: str
    quote: str
    encoding: str


def check_rows(
    path: Path,
    feed: Feed,
    fmt: FeedFormat,
    dialect: Dialect,
    fields: list[str],
    positions: dict[int, int],
    limit: int,
    unchecked: list[str],
) -> tuple[list[Problem], int]:
    """Row-level problems (at most limit + 1 from the checks query) and how many more the query found."""
    connection = duckdb.connect()
    try:
        columns = "{" + ", ".join(f"'c{index}': 'varchar'" for index in range(len(fields))) + "}"
        # auto_detect = false: every option is given, and DuckDB's sniffer would turn one bad row
        # (an unbalanced quote) into a many-line dialect report instead of a reject with its line.
        connection.execute(
            f"""
            create temporary table file_rows as
            select * from read_csv(
                {literal(str(path))},
                auto_detect = false,
                encoding = {literal(dialect.encoding)},
                header = true,
                delim = {literal(dialect.delimiter)},
                quote = {literal(dialect.quote)},
                escape = {literal(dialect.quote)},
                columns = {columns},
                all_varchar = true,
                strict_mode = true,
                null_padding = false,
                store_rejects = true
            )
            """
        )
        # DuckDB logs a short row once per missing column; the first is enough to point at the row.
        rejects = connection.execute(
            """
            select line, arg_min(column_name, column_idx), error_type, arg_min(error_message, column_idx)
            from reject_errors
            group by line, error_type
            order by line
            """
        ).fetchall()
        rejected_rows = sorted({int(line) - 1 for line, *_ in rejects})
        problems = [
            Problem(
                int(line) - 1,
                _reject_column(column, fields),
                _REJECT_RULES.get(error_type, "format"),
                _reject_message(error_type, message, dialect.quote),
            )
            for line, column, error_type, message in rejects
        ]
        connection.execute(f"create temporary view typed_rows as {typed_sql(feed, fmt, positions)}")
        rules = list(feed.rules) or _implied_rules(feed)
        evaluable = [rule for rule in rules if _evaluable(connection, rule, unchecked)]
        hidden = 0
        sql = checks_sql(feed, fmt, positions, evaluable)
        if sql:
            connection.execute(f"create temporary table problems as {sql}")
            found = connection.execute(
                f"select idx, pos, col, rule, message, other from problems order by idx, pos limit {int(limit) + 1}"
            ).fetchall()
            total = connection.execute("select count(*) from problems").fetchone()
            assert total is not None
            for index, _, column, rule, message, other in found:
                row = _data_row(int(index), rejected_rows)
                if other is not None:
                    message += f" (first in row {_data_row(int(other), rejected_rows)})"
                problems.append(Problem(row, column, rule, message))
            hidden = int(total[0]) - len(found)
        return problems, hidden
    except duckdb.Error as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return [
            Problem(None, None, "format", f"DuckDB could not read {path.name} as {dialect.encoding} delimited text: {first_line}")
        ], 0
    finally:
        connection.close()


def _reject_message(error_type: str, message: str, quote: str) -> str:
    if error_type == "UNQUOTED VALUE":
        return (
            f"unbalanced quote: a value opens a {quote} that does not close before its delimiter "
            f"(or a {quote} stands inside an unquoted value); double each {quote} inside a quoted value"
        )
    return f"{error_type.lower()}: {' '.join(message.split())}"


def _implied_rules(feed: Feed) -> list[Rule]:
    """Rules for a Feed made without a manifest (by hand, in tests): its columns' required flags and
    maximum lengths, as `feeds_from_manifest` derives them from not_null and max_length."""
    rules = []
    for column in feed.columns:
        if column.required:
            rules.append(Rule("not_null", f"not_null_{column.name}", column.name))
        if column.max_length is not None:
            rules.append(Rule("max_length", f"max_length_{column.name}", column.name, {"length": column.max_length}))
    return rules


def _evaluable(connection: Connection, rule: Rule, unchecked: list[str]) -> bool:
    """Whether an expression_is_true rule's SQL runs in DuckDB over the file's columns.

    The expression is the warehouse's SQL; on DuckDB (the default) it runs as written, but on
    another adapter it may use a function DuckDB lacks, and one such rule must not stop the others.
    """
    if rule.test != "listrak_expression_is_true" or rule.severity != "error":
        return True
    try:
        connection.execute(f"select 1 from typed_rows where not ({rule_expression(rule)}) limit 0")
    except duckdb.Error as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        unchecked.append(f"{rule.name}: DuckDB cannot evaluate {rule_expression(rule)!r} ({first_line}), not checked")
        return False
    return True


def _reject_column(column: str | None, fields: list[str]) -> str | None:
    if column and column.startswith("c") and column[1:].isdigit() and int(column[1:]) < len(fields):
        return fields[int(column[1:])]
    return None


def _data_row(index: int, rejected_rows: list[int]) -> int:
    """The data row of the `index`-th accepted row (0-based), counting the rejected rows before it."""
    row = index + 1
    for rejected in rejected_rows:
        if rejected <= row:
            row += 1
        else:
            break
    return row
