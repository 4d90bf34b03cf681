"""Validate: check any delimited feed file, ours or made by hand, against its feed contract.

Python reads only the first bytes (byte-order mark, encoding) and the header line. Every row-level
check runs in DuckDB over `read_csv(all_varchar = true, strict_mode = true, store_rejects = true)`:
rows with the wrong number of fields or bad bytes land in DuckDB's rejects table (with their line),
and the other rows are checked with one SQL query per file.

Rows are numbered like data rows: row 0 is the header, row 1 the first data row. When no value spans
lines, row N is line N + 1 of the file.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from runner.config import FeedFormat
from runner.errors import ConfigError
from runner.export import header_names
from runner.feed import Column, Feed

_SNIFF_BYTES = 1024 * 1024
_DELIMITERS = (",", "|", "\t", ";")
_BOOLEANS = ("yes", "y", "true", "1", "no", "n", "false", "0")
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
    #: encoding, header, delimiter, field_count, quoting, required, type, max_length, line_break, unique, more.
    rule: str
    message: str


def validate_file(path: Path, feed: Feed, fmt: FeedFormat, limit: int = 1000) -> list[Problem]:
    """Every problem of `path` against `feed`'s contract, in file order, at most `limit` of them.

    When there are more, a last Problem with rule `more` says how many were left out. An empty list
    means the file is valid.
    """
    if not path.is_file():
        raise ConfigError(f"file {path} not found; pass the path of a feed file to validate")
    if fmt.format == "xlsx" or path.suffix.lower() == ".xlsx":
        return [Problem(None, None, "format", f"{path.name}: only delimited text files (.csv, .txt) can be validated")]
    with open(path, "rb") as source:
        head = source.read(_SNIFF_BYTES)
    problems, encoding = _check_encoding(head, fmt)
    if encoding is None:
        return problems
    header, header_problem = _header_line(head, encoding)
    if header_problem is not None:
        return [*problems, header_problem]
    assert header is not None
    fields = next(csv.reader([header], delimiter=fmt.delimiter, quotechar=fmt.quote))
    expected = header_names(feed, fmt)
    if len(fields) == 1 and len(expected) > 1:
        return [*problems, _delimiter_problem(header, fmt)]
    header_problems, positions = _check_header(fields, expected)
    problems += header_problems
    row_problems, hidden = _check_rows(path, feed, fmt, encoding, fields, positions, limit)
    problems += row_problems
    problems.sort(key=lambda problem: (-1 if problem.row is None else problem.row))
    rest = hidden + max(0, len(problems) - limit)
    if rest:
        problems = [*problems[:limit], Problem(None, None, "more", f"{rest} more problems not shown")]
    return problems


def _check_encoding(head: bytes, fmt: FeedFormat) -> tuple[list[Problem], str | None]:
    """Problems with the file's encoding and the encoding to read it with (None: unreadable)."""
    if head.startswith(codecs.BOM_UTF16_BE):
        return [Problem(None, None, "encoding", "file is UTF-16 big-endian; write UTF-16 little-endian (with BOM) or UTF-8")], None
    if head.startswith(codecs.BOM_UTF16_LE):
        if fmt.encoding != "utf-16":
            return [Problem(None, None, "encoding", "file is UTF-16 but the feed is configured for utf-8")], "utf-16"
        return [], "utf-16"
    if fmt.encoding == "utf-16":
        if b"\x00" in head[:4096]:
            return [Problem(None, None, "encoding", "file looks like UTF-16 without a byte-order mark; add the BOM (FF FE)")], None
        return [Problem(None, None, "encoding", "file has no UTF-16 byte-order mark; it is read as UTF-8")], "utf-8"
    return [], "utf-8"


def _header_line(head: bytes, encoding: str) -> tuple[str | None, Problem | None]:
    if encoding == "utf-16":
        text = head.decode("utf-16", errors="replace")
        line = text.split("\n", 1)[0]
    else:
        raw = head.split(b"\n", 1)[0]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, Problem(0, None, "encoding", f"header line is not valid UTF-8 (byte {exc.start}): save the file as UTF-8")
    line = line.removeprefix("\ufeff").removesuffix("\r")
    if not line.strip():
        return None, Problem(0, None, "header", "the file is empty or its first line is blank; a header row is required")
    return line, None


def _delimiter_problem(header: str, fmt: FeedFormat) -> Problem:
    found = [candidate for candidate in _DELIMITERS if candidate != fmt.delimiter and candidate in header]
    if found:
        message = f"header parses as one column: delimiter looks like {found[0]!r}, the feed expects {fmt.delimiter!r}"
    else:
        message = f"header parses as one column with delimiter {fmt.delimiter!r}: {header[:80]!r}"
    return Problem(0, None, "delimiter", message)


def _check_header(fields: list[str], expected: list[str]) -> tuple[list[Problem], dict[int, int]]:
    """Header problems and, for each expected column index, the file field index holding it."""
    problems: list[Problem] = []
    positions: dict[int, int] = {}
    for index, name in enumerate(expected):
        if name in fields:
            positions[index] = fields.index(name)
    positional = len(fields) == len(expected)
    for index, name in enumerate(expected):
        if index in positions:
            continue
        near = next((field for field in fields if field.lower() == name.lower()), None)
        hint = f" (found {near!r}: header names are compared exactly)" if near else ""
        problems.append(Problem(0, name, "header", f"missing column {name!r}{hint}"))
        if positional and fields[index] not in expected:
            positions[index] = index  # a renamed column in the right place: still check its values
    for field in fields:
        if field not in expected:
            problems.append(Problem(0, field, "header", f"unexpected column {field!r}"))
    seen: set[str] = set()
    for field in fields:
        if field in seen:
            problems.append(Problem(0, field, "header", f"column {field!r} appears more than once"))
        seen.add(field)
    present = [field for field in fields if field in expected]
    if present != [name for name in expected if name in present]:
        problems.append(
            Problem(0, None, "header", "columns are out of order; expected: " + ", ".join(expected))
        )
    return problems, positions


def _check_rows(
    path: Path,
    feed: Feed,
    fmt: FeedFormat,
    encoding: str,
    fields: list[str],
    positions: dict[int, int],
    limit: int,
) -> tuple[list[Problem], int]:
    """Row-level problems (at most limit + 1 from the checks query) and how many more the query found."""
    connection = duckdb.connect()
    try:
        columns = "{" + ", ".join(f"'c{index}': 'varchar'" for index in range(len(fields))) + "}"
        connection.execute(
            f"""
            create temporary table file_rows as
            select * from read_csv(
                {_literal(str(path))},
                encoding = {_literal(encoding)},
                header = true,
                delim = {_literal(fmt.delimiter)},
                quote = {_literal(fmt.quote)},
                escape = {_literal(fmt.quote)},
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
                f"{error_type.lower()}: {message}",
            )
            for line, column, error_type, message in rejects
        ]
        hidden = 0
        sql = _checks_sql(feed, fmt, positions)
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
        return [Problem(None, None, "format", f"DuckDB could not read {path.name} as {encoding} delimited text: {exc}")], 0
    finally:
        connection.close()


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


def _checks_sql(feed: Feed, fmt: FeedFormat, positions: dict[int, int]) -> str:
    """One UNION ALL of every row-level check; each branch yields (idx, pos, col, rule, message, other)."""
    branches: list[str] = []
    headers = header_names(feed, fmt)
    for index, column in enumerate(feed.columns):
        if index not in positions:
            continue
        value = f"c{positions[index]}"
        name = _literal(headers[index])

        def branch(rule: str, condition: str, message: str) -> None:
            branches.append(
                f"select rowid as idx, {index} as pos, {name} as col, '{rule}' as rule, "
                f"{message} as message, cast(null as bigint) as other from file_rows where {condition}"
            )

        shown = f"left({value}, 60)"
        if column.required:
            branch("required", f"coalesce(trim({value}), '') = ''", "'a value is required'")
        present = f"coalesce({value}, '') <> ''"
        for rule, condition, message in _type_checks(column, fmt, value, shown):
            branch(rule, f"{present} and {condition}", message)
        if column.max_length is not None:
            branch(
                "max_length",
                f"length({value}) > {int(column.max_length)}",
                f"'value has ' || length({value}) || ' characters, at most {int(column.max_length)} allowed'",
            )
        branch(
            "line_break",
            f"(contains({value}, chr(10)) or contains({value}, chr(13)))",
            "'value holds a line break (CR or LF); remove it'",
        )
    key_positions = [feed.column_names.index(key) for key in feed.key if key in feed.column_names]
    if key_positions and len(key_positions) == len(feed.key) and all(index in positions for index in key_positions):
        keys = [f"c{positions[index]}" for index in key_positions]
        shown_key = " || ', ' || ".join(
            f"{_literal(headers[index] + '=')} || coalesce(c{positions[index]}, '')" for index in key_positions
        )
        branches.append(
            f"""
            select idx, {key_positions[0]} as pos, {_literal(headers[key_positions[0]])} as col, 'unique' as rule,
                'duplicate key ' || shown as message, first_idx as other
            from (
                select rowid as idx, {shown_key} as shown, min(rowid) over (partition by {', '.join(keys)}) as first_idx
                from file_rows
                where {' and '.join(f"coalesce({key}, '') <> ''" for key in keys)}
            )
            where idx <> first_idx
            """
        )
    return "\nunion all\n".join(branches)


def _type_checks(column: Column, fmt: FeedFormat, value: str, shown: str) -> list[tuple[str, str, str]]:
    kind = column.kind
    if kind == "integer":
        return [("type", f"not regexp_full_match({value}, '-?[0-9]+')", f"'not an integer: ' || {shown}")]
    if kind == "decimal":
        return [
            (
                "type",
                f"not regexp_full_match({value}, '-?[0-9]+(\\.[0-9]+)?')",
                f"'not a plain decimal number (digits and a point; no currency symbol or thousands separator): ' || {shown}",
            )
        ]
    if kind in ("timestamp", "date"):
        pattern = fmt.timestamp_format if kind == "timestamp" else fmt.date_format
        return [
            (
                "type",
                f"try_strptime({value}, {_literal(pattern)}) is null",
                f"'not a {kind} in the format {_escape_message(pattern)}: ' || {shown}",
            )
        ]
    if kind == "boolean":
        allowed = ", ".join(f"'{word}'" for word in _BOOLEANS)
        return [
            (
                "type",
                f"lower(trim({value})) not in ({allowed})",
                f"'not a boolean (Yes/Y/True/1 or No/N/False/0): ' || {shown}",
            )
        ]
    return []


def _escape_message(text: str) -> str:
    return text.replace("'", "''")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
