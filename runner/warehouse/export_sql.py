"""The SELECTs the export runs: each mart column formatted by its kind (dates by the format's
strftime pattern, booleans as the format's words, money with two places), rows in key order (from
the embedded DuckDB file; a warehouse's copy leaves row order free), and
the options of DuckDB's CSV COPY. Pure SQL text; `export` runs it."""

from __future__ import annotations

import re

from runner.config import FeedFormat
from runner.feed import Column, Feed
from runner.feed_file import header_names
from runner.warehouse.sql import identifier, literal


def select_sql(feed: Feed, fmt: FeedFormat, sort: bool = True, where: str = "") -> str:
    """The SELECT that turns the mart into the file's text values, columns named by their headers,
    sorted by the key (unless `sort` is False: a warehouse's marts, whose row order is free), of the
    rows matching `where` (a condition on the mart's columns, as `mart.<column>`; all rows if empty).

    Every value that is not a number is checked for CR and LF on the way: one would split a row of
    the file, so the query fails with DuckDB's `error()` naming the feed and column. The check costs
    about nothing next to the COPY and saves a pass over the written file.
    """
    expressions = [
        f"{_guarded(feed, column, format_expression(column, fmt), fmt)} as {identifier(header)}"
        for column, header in zip(feed.columns, header_names(feed, fmt))
    ]
    order = "\n" + ordered(feed) if sort else ""
    condition = f"\nwhere {where}" if where else ""
    return "select\n    " + ",\n    ".join(expressions) + f"\nfrom {feed.relation} as mart{condition}{order}"


def ordered(feed: Feed) -> str:
    """Rows in key order, so the same rows always make the same bytes (a re-export, a resend and the
    same data on another engine hash alike). The mart's own columns, not the formatted headers."""
    return "order by " + ", ".join(f"mart.{identifier(key)}" for key in feed.key)


def copy_options(fmt: FeedFormat, header: bool = True) -> str:
    """The options of DuckDB's CSV `COPY ... TO` for a format (`header=False`: the rows only)."""
    options = [
        "format csv",
        f"header {'true' if header else 'false'}",
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


def _guarded(feed: Feed, column: Column, expression: str, fmt: FeedFormat) -> str:
    if column.kind in ("integer", "decimal"):
        return expression
    message = literal(f"{LINE_BREAK_MARK} feed {feed.name}: column {column.name} holds a line break in at least one row")
    # Transliteration never makes a line break, so the check runs on the value as the mart holds it.
    written = ascii_expression(expression) if fmt.encoding == "ascii" else expression
    return (
        f"case when contains({expression}, chr(10)) or contains({expression}, chr(13)) "
        f"then error({message}) else {written} end"
    )


#: What DuckDB's strip_accents (which drops combining accents: é -> e) leaves alone, with its usual
#: ASCII form: quotes, dashes and spaces of typography, letters that are not an accented Latin
#: letter, ligatures. One character for one goes through translate(), longer forms through replace().
_ASCII_ONE = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2039": "'", "\u203a": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u3000": " ",
    "\u00d8": "O", "\u00f8": "o", "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u00d0": "D",
    "\u00f0": "d", "\u0131": "i", "\u0126": "H", "\u0127": "h", "\u0166": "T", "\u0167": "t", "\u00d7": "x",
    "\u2022": "*", "\u00b7": ".", "\u00a1": "!", "\u00bf": "?",
}
_ASCII_MANY = {
    "\u00df": "ss", "\u1e9e": "SS", "\u00c6": "AE", "\u00e6": "ae", "\u0152": "OE", "\u0153": "oe",
    "\u00de": "Th", "\u00fe": "th", "\u2026": "...", "\u20ac": "EUR", "\u00a3": "GBP", "\u00a9": "(c)",
    "\u00ae": "(r)", "\u2122": "(tm)", "\ufb01": "fi", "\ufb02": "fl", "\u00bd": "1/2", "\u00bc": "1/4",
    "\u00be": "3/4",
}
#: Any character outside ASCII (an RE2 class; DuckDB string literals keep the backslashes).
NON_ASCII = "[^\\x00-\\x7F]"
ASCII = "[\\x00-\\x7F]"


def _transliterated(expression: str) -> str:
    """The value with every character that has an ASCII form replaced by it (others still there)."""
    mapped = f"translate({expression}, {literal(''.join(_ASCII_ONE))}, {literal(''.join(_ASCII_ONE.values()))})"
    for char, form in _ASCII_MANY.items():
        mapped = f"replace({mapped}, {literal(char)}, {literal(form)})"
    return f"strip_accents({mapped})"


def _has_non_ascii(expression: str) -> str:
    # Bytes equal characters exactly when every character is ASCII: the common case costs no regex.
    return f"strlen({expression}) <> length({expression})"


def ascii_expression(expression: str) -> str:
    """The value as ASCII: transliterated (é -> e, ß -> ss, curly quotes -> straight), and the
    characters with no ASCII form (emoji, CJK) dropped; `dropped_sql` counts those."""
    return (
        f"case when {_has_non_ascii(expression)} "
        f"then regexp_replace({_transliterated(expression)}, {literal(NON_ASCII)}, '', 'g') else {expression} end"
    )


def dropped_sql(feed: Feed, fmt: FeedFormat) -> str | None:
    """One row: per text column of the file, how many characters the ASCII export drops (no ASCII form)."""
    counted = [column for column in feed.columns if column.kind not in ("integer", "decimal")]
    if not counted:
        return None
    sums = []
    for column in counted:
        value = format_expression(column, fmt)
        left = f"length(regexp_replace({_transliterated(value)}, {literal(ASCII)}, '', 'g'))"
        sums.append(f"coalesce(sum(case when {_has_non_ascii(value)} then {left} end), 0) as {identifier(column.name)}")
    return "select " + ", ".join(sums) + f" from {feed.relation} as mart"


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
