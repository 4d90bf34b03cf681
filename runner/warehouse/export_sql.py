"""The SELECTs the export runs: each mart column formatted by its kind (dates by the format's
strftime pattern, booleans as the format's words, money with two places), rows in key order, and
the options of DuckDB's CSV COPY. Pure SQL text; `export` runs it."""

from __future__ import annotations

import re

from runner.config import FeedFormat
from runner.feed import Column, Feed
from runner.feed_file import header_names
from runner.warehouse.sql import identifier, literal


def select_sql(feed: Feed, fmt: FeedFormat) -> str:
    """The SELECT that turns the mart into the file's text values, columns named by their headers.

    Every value that is not a number is checked for CR and LF on the way: one would split a row of
    the file, so the query fails with DuckDB's `error()` naming the feed and column. The check costs
    about nothing next to the COPY and saves a pass over the written file.
    """
    expressions = [
        f"{_guarded(feed, column, format_expression(column, fmt))} as {identifier(header)}"
        for column, header in zip(feed.columns, header_names(feed, fmt))
    ]
    return "select\n    " + ",\n    ".join(expressions) + f"\nfrom {feed.relation} as mart\n{ordered(feed)}"


def ordered(feed: Feed) -> str:
    """Rows in key order, so the same rows always make the same bytes (a re-export, a resend and the
    same data on another engine hash alike). The mart's own columns, not the formatted headers."""
    return "order by " + ", ".join(f"mart.{identifier(key)}" for key in feed.key)


def copy_options(fmt: FeedFormat) -> str:
    """The options of DuckDB's CSV `COPY ... TO` for a format."""
    options = [
        "format csv",
        "header true",
        f"delimiter {literal(fmt.delimiter)}",
        f"quote {literal(fmt.quote)}",
        # Escaping the quote character with itself is what doubles embedded quotes.
        f"escape {literal(fmt.quote)}",
        "nullstr ''",
        f"new_line {literal(fmt.newline)}",
    ]
    if fmt.quote_all:
        options.append("force_quote *")
    return "(" + ", ".join(options) + ")"


#: Starts the message of the error() a line break raises inside the COPY.
LINE_BREAK_MARK = "feeds-line-break:"


def _guarded(feed: Feed, column: Column, expression: str) -> str:
    if column.kind in ("integer", "decimal"):
        return expression
    message = literal(f"{LINE_BREAK_MARK} feed {feed.name}: column {column.name} holds a line break in at least one row")
    return (
        f"case when contains({expression}, chr(10)) or contains({expression}, chr(13)) "
        f"then error({message}) else {expression} end"
    )


def format_expression(column: Column, fmt: FeedFormat) -> str:
    name = identifier(column.name)
    kind = column.kind
    if kind == "timestamp" or kind == "date":
        pattern = fmt.timestamp_format if kind == "timestamp" else fmt.date_format
        return f"strftime({name}, {literal(pattern)})"
    if kind == "boolean":
        return f"case when {name} then {literal(fmt.true_value)} when not {name} then {literal(fmt.false_value)} end"
    if kind == "decimal":
        # decimal(p,2) already prints as 50.00; anything else (double, other scales) is cast to two places.
        if re.fullmatch(r"\s*(decimal|numeric)\s*\(\s*\d+\s*,\s*2\s*\)\s*", column.data_type.lower()):
            return name
        return f"cast({name} as decimal(38, 2))"
    if kind == "integer":
        return name
    return f"cast({name} as varchar)"


def xlsx_select(feed: Feed, fmt: FeedFormat) -> str:
    """Numbers stay numbers (decimals as double for xlsxwriter); everything else is the CSV text."""
    expressions = []
    for column in feed.columns:
        name = identifier(column.name)
        if column.kind == "integer":
            expressions.append(f"cast({name} as bigint)")
        elif column.kind == "decimal":
            expressions.append(f"cast(round({name}, 2) as double)")
        else:
            expressions.append(format_expression(column, fmt))
    return "select " + ", ".join(expressions) + f" from {feed.relation} as mart {ordered(feed)}"
