"""Validate: check any feed file, ours or made by hand, against its feed contract.

The contract is the mart's: its columns' data types and the data tests the manifest attaches to it
(not_null, unique, max_length, email_format, accepted_values, value_in_seed, listrak_accepted_range,
listrak_expression_is_true, no_line_breaks, listrak_unique_combination), so a rule added in YAML is checked here too.

The format comes from the file, not from feeds.yml: an XLSX workbook (zip signature) or delimited
text, its encoding from the byte-order mark, its delimiter from the header line. Python reads only
the first bytes and the header line (and, for XLSX, converts the sheet to a temporary CSV). Every
row-level check runs in DuckDB over `read_csv(all_varchar = true, strict_mode = true,
store_rejects = true)`: rows with the wrong number of fields, bad bytes or an unbalanced quote land in
DuckDB's rejects table (with their line), and the other rows are checked with one SQL query per file.

Rows are numbered like data rows: row 0 is the header, row 1 the first data row. When no value spans
lines, row N is line N + 1 of the file (sheet row N + 1 of a workbook).
"""

from __future__ import annotations

import codecs
import csv
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from runner.config import FeedFormat
from runner.errors import ConfigError
from runner.export import header_names
from runner.feed import Column, Feed, Rule
from runner.xlsx_reader import XlsxError, sheet_rows

_SNIFF_BYTES = 1024 * 1024
#: Delimiters Listrak accepts, then one it does not (recognised only to name it).
_DELIMITERS = (",", "|", "\t")
_OTHER_DELIMITERS = (";",)
_DELIMITER_NAMES = {",": "comma", "|": "pipe", "\t": "tab", ";": "semicolon"}
#: A plain decimal number: digits and an optional point; no currency symbol or thousands separator.
_DECIMAL = "-?[0-9]+(\\.[0-9]+)?"
_TRUE = ("yes", "y", "true", "1")
_FALSE = ("no", "n", "false", "0")
_BOOLEANS = _TRUE + _FALSE
_REJECT_RULES = {
    "MISSING COLUMNS": "field_count",
    "TOO MANY COLUMNS": "field_count",
    "INVALID ENCODING": "encoding",
    "INVALID UNICODE": "encoding",
    "UNQUOTED VALUE": "quoting",
    "LINE SIZE OVER MAXIMUM": "line_size",
}
#: The data tests that compare one file's values; `relationships` needs the other feed's file.
CHECKED_TESTS = (
    "not_null",
    "unique",
    "listrak_unique_combination",
    "max_length",
    "email_format",
    "accepted_values",
    "value_in_seed",
    "listrak_accepted_range",
    "listrak_expression_is_true",
    "no_line_breaks",
)
#: The DuckDB type each column kind is read as, for the rules that compare values.
_SQL_TYPES = {
    "text": "varchar",
    "integer": "bigint",
    "decimal": "decimal(38, 10)",
    "timestamp": "timestamp",
    "date": "date",
    "boolean": "boolean",
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


@dataclass
class Validation:
    """What validating one file found."""

    problems: list[Problem] = field(default_factory=list)
    #: The format read from the file, e.g. "csv, utf-8, comma-delimited".
    detected: str = ""
    #: Data rules of the contract this file could not be checked against, and why.
    unchecked: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Dialect:
    delimiter: str
    quote: str
    encoding: str


def validate_file(path: Path, feed: Feed, fmt: FeedFormat, limit: int = 1000) -> list[Problem]:
    """Every problem of `path` against `feed`'s contract, in file order, at most `limit` of them.

    When there are more, a last Problem with rule `more` says how many were left out. An empty list
    means the file is valid.
    """
    return validate(path, feed, fmt, limit).problems


def validate(path: Path, feed: Feed, fmt: FeedFormat, limit: int = 1000) -> Validation:
    """Validate `path` against `feed`; `fmt` gives only what a file cannot show: header overrides,
    the quote character, and the timestamp and date formats of values."""
    if not path.is_file():
        raise ConfigError(f"file {path} not found; pass the path of a feed file to validate")
    try:
        with open(path, "rb") as source:
            head = source.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    result = Validation(unchecked=unchecked_rules(feed))
    if head.startswith(b"PK\x03\x04"):
        result.detected = "xlsx"
        with tempfile.TemporaryDirectory(prefix="feeds-validate-") as scratch:
            text = Path(scratch) / "sheet.csv"
            try:
                _sheet_to_csv(path, text, feed, fmt)
            except XlsxError as exc:
                result.problems = [Problem(None, None, "format", f"{path.name}: {exc}")]
                return result
            with open(text, "rb") as source:
                head = source.read(_SNIFF_BYTES)
            result.problems = _validate_text(text, head, feed, fmt, limit, _Dialect(",", '"', "utf-8"), result.unchecked)
        return result
    if path.suffix.lower() == ".xlsx":
        result.problems = [Problem(None, None, "format", f"{path.name} is named .xlsx but is not an XLSX workbook (no zip signature)")]
        return result
    encoding_problems, encoding = _check_encoding(head)
    if encoding is None:
        result.problems = encoding_problems
        return result
    header, header_problem = _header_line(head, encoding)
    if header_problem is not None:
        result.problems = [header_problem]
        return result
    assert header is not None
    delimiter, delimiter_problems = _detect_delimiter(header, header_names(feed, fmt), fmt.quote)
    if delimiter is None:
        result.problems = delimiter_problems
        return result
    bom = " with BOM" if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE)) else ""
    result.detected = f"{path.suffix.lstrip('.').lower() or 'text'}, {encoding}{bom}, {_DELIMITER_NAMES[delimiter]}-delimited"
    dialect = _Dialect(delimiter, fmt.quote, encoding)
    result.problems = delimiter_problems + _validate_text(path, head, feed, fmt, limit, dialect, result.unchecked, header)
    return result


def unchecked_rules(feed: Feed) -> list[str]:
    """The feed's data tests a single file cannot be checked against, each with the reason."""
    notes = []
    for rule in feed.rules:
        where = f"{rule.name}" + (f" on {rule.column}" if rule.column else "")
        if rule.severity != "error":
            notes.append(f"{where}: severity {rule.severity} in dbt, not checked")
        elif rule.test == "relationships":
            notes.append(f"{where}: needs the file of {rule.arguments.get('to', 'another feed')}, not checked")
        elif rule.test == "feed_accounts_for_every_row":
            notes.append(f"{where}: counts the warehouse's candidate, rejects and source rows, not checked")
        elif rule.test not in CHECKED_TESTS:
            notes.append(f"{where}: validate has no check for the {rule.test} test")
        elif rule.test == "email_format" and "pattern" not in rule.arguments:
            notes.append(f"{where}: the email_regex macro was not found in the manifest, not checked")
        elif rule.test == "value_in_seed" and "values" not in rule.arguments:
            notes.append(f"{where}: the seed file of {rule.arguments.get('to')} was not found, not checked")
    return notes


def feed_for_file(path: Path, feeds: list[Feed]) -> Feed:
    """The feed whose file name template (e.g. Listrak_Order_Feed_{date}) the file's name matches."""
    matches = []
    for feed in feeds:
        pattern = ".+?".join(re.escape(part) for part in feed.file_name.split("{date}"))
        if re.fullmatch(pattern + r"(\.[A-Za-z0-9]+)?", path.name, flags=re.IGNORECASE):
            matches.append(feed)
    if len(matches) > 1:
        # Prefer the most specific template (the longest fixed text): Listrak_X_{date} over {date}.
        def fixed(feed: Feed) -> int:
            return len(feed.file_name.replace("{date}", ""))

        matches.sort(key=fixed, reverse=True)
        if fixed(matches[0]) == fixed(matches[1]):
            raise ConfigError(
                f"{path.name} matches the file names of feeds {matches[0].name} and {matches[1].name}; pass --feed"
            )
    if not matches:
        expected = ", ".join(f"{feed.name} ({feed.file_name})" for feed in feeds)
        raise ConfigError(f"cannot tell the feed of {path.name} from its name; pass --feed, or name it like {expected}")
    return matches[0]


def _sheet_to_csv(path: Path, target: Path, feed: Feed, fmt: FeedFormat) -> None:
    """The workbook's first sheet as a UTF-8 CSV, every row padded to the header's width.

    Data rows wider than the header keep their extra cells, so the row checks report them. A cell
    Excel stores as a date is written in the feed's date or timestamp format, as a feed file holds it.
    """
    rows = sheet_rows(path)
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        header = [str(value) for value in next(rows, None) or []]
        if not header:
            return
        width = len(header)
        writer.writerow(header)
        kinds = {name: column.kind for name, column in zip(header_names(feed, fmt), feed.columns)}
        patterns = [
            {"date": fmt.date_format, "timestamp": fmt.timestamp_format}.get(kinds.get(name, ""), "%Y-%m-%d %H:%M:%S")
            for name in header
        ]
        for row in rows:
            values = [
                value.strftime(patterns[index] if index < width else "%Y-%m-%d %H:%M:%S")
                if isinstance(value, datetime)
                else value
                for index, value in enumerate(row)
            ]
            writer.writerow(values + [""] * (width - len(values)))


def _validate_text(
    path: Path,
    head: bytes,
    feed: Feed,
    fmt: FeedFormat,
    limit: int,
    dialect: _Dialect,
    unchecked: list[str],
    header: str | None = None,
) -> list[Problem]:
    if header is None:
        header, header_problem = _header_line(head, dialect.encoding)
        if header_problem is not None:
            return [header_problem]
        assert header is not None
    fields = next(csv.reader([header], delimiter=dialect.delimiter, quotechar=dialect.quote))
    expected = header_names(feed, fmt)
    problems, positions = _check_header(fields, expected)
    row_problems, hidden = _check_rows(path, feed, fmt, dialect, fields, positions, limit, unchecked)
    problems += row_problems
    problems.sort(key=lambda problem: (-1 if problem.row is None else problem.row))
    rest = hidden + max(0, len(problems) - limit)
    if rest:
        problems = [*problems[:limit], Problem(None, None, "more", f"{rest} more problems not shown")]
    return problems


def _check_encoding(head: bytes) -> tuple[list[Problem], str | None]:
    """Problems with the file's encoding and the encoding to read it with (None: unreadable)."""
    if head.startswith(codecs.BOM_UTF16_BE):
        return [Problem(None, None, "encoding", "file is UTF-16 big-endian; write UTF-16 little-endian (with BOM) or UTF-8")], None
    if head.startswith(codecs.BOM_UTF16_LE):
        return [], "utf-16"
    if b"\x00" in head[:4096]:
        # UTF-8 text never holds a NUL byte; UTF-16 text of mostly ASCII is half NULs.
        order = "little" if head[1:2] == b"\x00" else "big"
        return [
            Problem(
                None,
                None,
                "encoding",
                f"file looks like UTF-16 ({order}-endian) without a byte-order mark; "
                "save it as UTF-16 with a BOM (FF FE) or as UTF-8",
            )
        ], None
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


def _detect_delimiter(header: str, expected: list[str], quote: str) -> tuple[str | None, list[Problem]]:
    """The delimiter that splits the header into the most expected column names (None: none does)."""
    best, best_score = None, (0, 0)
    for candidate in _DELIMITERS + _OTHER_DELIMITERS:
        fields = next(csv.reader([header], delimiter=candidate, quotechar=quote))
        score = (len(set(fields) & set(expected)), len(fields))
        if score > best_score:
            best, best_score = candidate, score
    if best is None or (best_score[1] == 1 and len(expected) > 1):
        return None, [
            Problem(0, None, "delimiter", f"header is one column with any delimiter (comma, pipe, tab): {header[:80]!r}")
        ]
    if best in _OTHER_DELIMITERS:
        return best, [
            Problem(0, None, "delimiter", f"delimiter is {_DELIMITER_NAMES[best]}; Listrak reads comma, pipe or tab")
        ]
    return best, []


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
    dialect: _Dialect,
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
                {_literal(str(path))},
                auto_detect = false,
                encoding = {_literal(dialect.encoding)},
                header = true,
                delim = {_literal(dialect.delimiter)},
                quote = {_literal(dialect.quote)},
                escape = {_literal(dialect.quote)},
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
        connection.execute(f"create temporary view typed_rows as {_typed_sql(feed, fmt, positions)}")
        rules = list(feed.rules) or _implied_rules(feed)
        evaluable = [rule for rule in rules if _evaluable(connection, rule, unchecked)]
        hidden = 0
        sql = _checks_sql(feed, fmt, positions, evaluable)
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


def _evaluable(connection: duckdb.DuckDBPyConnection, rule: Rule, unchecked: list[str]) -> bool:
    """Whether an expression_is_true rule's SQL runs in DuckDB over the file's columns.

    The expression is the warehouse's SQL; on DuckDB (the default) it runs as written, but on
    another adapter it may use a function DuckDB lacks, and one such rule must not stop the others.
    """
    if rule.test != "listrak_expression_is_true" or rule.severity != "error":
        return True
    try:
        connection.execute(f"select 1 from typed_rows where not ({_expression(rule)}) limit 0")
    except duckdb.Error as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        unchecked.append(f"{rule.name}: DuckDB cannot evaluate {_expression(rule)!r} ({first_line}), not checked")
        return False
    return True


def _expression(rule: Rule) -> str:
    # As the expression_is_true macro renders it: an optional column name, then the expression.
    column = rule.arguments.get("column_name") or rule.column
    return f"{column} {rule.arguments['expression']}" if column else str(rule.arguments["expression"])


def _typed_sql(feed: Feed, fmt: FeedFormat, positions: dict[int, int]) -> str:
    """The file's rows with each feed column also read as its contracted type, under its mart name,
    so rules written for the mart (ranges, accepted values, expressions) run as written.

    A value that is empty or not of its type is null here: its type problem is reported once, by
    the type check, and it fails no other rule, as a null fails no dbt test but not_null.
    """
    expressions = ["rowid as idx", "*"]
    for index, column in enumerate(feed.columns):
        sql_type = _SQL_TYPES[column.kind]
        if index not in positions:
            expressions.append(f"cast(null as {sql_type}) as {_identifier(column.name)}")
            continue
        value = f"c{positions[index]}"
        kind = column.kind
        if kind == "integer":
            typed = f"case when regexp_full_match({value}, '-?[0-9]+') then try_cast({value} as bigint) end"
        elif kind == "decimal":
            typed = f"case when regexp_full_match({value}, '{_DECIMAL}') then try_cast({value} as {sql_type}) end"
        elif kind == "timestamp":
            typed = f"try_strptime({value}, {_literal(fmt.timestamp_format)})"
        elif kind == "date":
            typed = f"cast(try_strptime({value}, {_literal(fmt.date_format)}) as date)"
        elif kind == "boolean":
            typed = (
                f"case when lower(trim({value})) in ({_words(_TRUE)}) then true "
                f"when lower(trim({value})) in ({_words(_FALSE)}) then false end"
            )
        else:
            typed = f"nullif({value}, '')"
        expressions.append(f"{typed} as {_identifier(column.name)}")
    return "select " + ", ".join(expressions) + " from file_rows"


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


def _checks_sql(feed: Feed, fmt: FeedFormat, positions: dict[int, int], rules: list[Rule]) -> str:
    """One UNION ALL of every row-level check over `typed_rows`; each branch yields
    (idx, pos, col, rule, message, other)."""
    branches: list[str] = []
    headers = header_names(feed, fmt)
    index_of = {column.name: index for index, column in enumerate(feed.columns)}

    def branch(index: int, rule: str, condition: str, message: str) -> None:
        branches.append(
            f"select idx, {index} as pos, {_literal(headers[index])} as col, {_literal(rule)} as rule, "
            f"{message} as message, cast(null as bigint) as other from typed_rows where {condition}"
        )

    def raw(index: int) -> str:
        return f"c{positions[index]}"

    def shown(index: int) -> str:
        return f"left({raw(index)}, 60)"

    # The no_line_breaks test also refuses tabs in the text columns it covers.
    tabs_refused: set[int] = set()
    for rule in rules:
        if rule.test == "no_line_breaks" and rule.severity == "error":
            if rule.column is None:
                tabs_refused |= {index for index, column in enumerate(feed.columns) if column.kind == "text"}
            elif rule.column in index_of:
                tabs_refused.add(index_of[rule.column])

    for index, column in enumerate(feed.columns):
        if index not in positions:
            continue
        present = f"coalesce({raw(index)}, '') <> ''"
        for rule_name, condition, message in _type_checks(column, fmt, raw(index), shown(index)):
            branch(index, rule_name, f"{present} and {condition}", message)
        # CR and LF split a row in any text file: a format rule, whatever the tests say.
        if index in tabs_refused:
            condition = " or ".join(f"contains({raw(index)}, chr({code}))" for code in (9, 10, 13))
            condition = f"({condition})"
            message = "'value holds a line break or tab (CR, LF or TAB); remove it'"
        else:
            condition = f"(contains({raw(index)}, chr(10)) or contains({raw(index)}, chr(13)))"
            message = "'value holds a line break (CR or LF); remove it'"
        branch(index, "line_break", condition, message)

    unique_sets: list[tuple[str, ...]] = []
    for rule in rules:
        if rule.severity != "error":
            continue
        if rule.test == "listrak_unique_combination":
            names = rule.arguments.get("combination_of_columns") or []
            unique_sets.append(tuple(str(name).strip().strip('"') for name in names))
            continue
        if rule.test == "listrak_expression_is_true":
            _expression_branch(rule, branches, feed, headers, positions)
            continue
        if rule.column is None or rule.column not in index_of or index_of[rule.column] not in positions:
            continue
        index = index_of[rule.column]
        typed = _identifier(rule.column)
        if rule.test == "not_null":
            branch(index, "required", f"coalesce(trim({raw(index)}), '') = ''", "'a value is required'")
        elif rule.test == "unique":
            unique_sets.append((rule.column,))
        elif rule.test == "max_length":
            length = int(rule.arguments["length"])
            branch(
                index,
                "max_length",
                f"length({raw(index)}) > {length}",
                f"'value has ' || length({raw(index)}) || ' characters, at most {length} allowed'",
            )
        elif rule.test == "email_format" and "pattern" in rule.arguments:
            # As the is_valid_email macro: the lower-cased value matches the email_regex macro.
            branch(
                index,
                "email_format",
                f"coalesce({raw(index)}, '') <> '' and not regexp_full_match(lower({raw(index)}), "
                f"{_literal(rule.arguments['pattern'])})",
                f"'not a valid e-mail address: ' || {shown(index)}",
            )
        elif rule.test in ("accepted_values", "value_in_seed") and "values" in rule.arguments:
            values = rule.arguments.get("values") or []
            quote = rule.arguments.get("quote", True)
            listed = ", ".join(_literal(str(value)) if quote else str(value) for value in values)
            branch(
                index,
                "accepted_values",
                f"{typed} is not null and {typed} not in ({listed})",
                f"'value ' || {shown(index)} || ' is not one of {_escape_message(', '.join(map(str, values)))}'",
            )
        elif rule.test == "listrak_accepted_range":
            # The bounds are SQL, inserted as the accepted_range test inserts them.
            low, high = rule.arguments.get("min_value"), rule.arguments.get("max_value")
            inclusive = rule.arguments.get("inclusive", True)
            failing, wanted = [], []
            if low is not None:
                failing.append(f"{typed} {'<' if inclusive else '<='} {low}")
                wanted.append(f"{'>=' if inclusive else '>'} {low}")
            if high is not None:
                failing.append(f"{typed} {'>' if inclusive else '>='} {high}")
                wanted.append(f"{'<=' if inclusive else '<'} {high}")
            if failing:
                branch(
                    index,
                    "accepted_range",
                    "(" + " or ".join(failing) + ")",
                    f"'value ' || {shown(index)} || ' is out of range: must be {_escape_message(' and '.join(wanted))}'",
                )

    key = tuple(feed.key)
    if key and all(name in index_of for name in key):
        unique_sets.append(key)
    seen: set[frozenset[str]] = set()
    for names in unique_sets:
        if frozenset(names) in seen or not all(name in index_of and index_of[name] in positions for name in names):
            continue
        seen.add(frozenset(names))
        indexes = [index_of[name] for name in names]
        keys = [raw(index) for index in indexes]
        shown_key = " || ', ' || ".join(f"{_literal(headers[index] + '=')} || coalesce({raw(index)}, '')" for index in indexes)
        what = "key" if set(names) == set(key) else "value"
        branches.append(
            f"""
            select idx, {indexes[0]} as pos, {_literal(headers[indexes[0]])} as col, 'unique' as rule,
                'duplicate {what} ' || shown as message, first_idx as other
            from (
                select idx, {shown_key} as shown, min(idx) over (partition by {', '.join(keys)}) as first_idx
                from typed_rows
                where {' and '.join(f"coalesce({value}, '') <> ''" for value in keys)}
            )
            where idx <> first_idx
            """
        )
    return "\nunion all\n".join(branches)


def _expression_branch(
    rule: Rule, branches: list[str], feed: Feed, headers: list[str], positions: dict[int, int]
) -> None:
    """An expression_is_true rule: its SQL over the typed columns, failing where it is false (a null
    result passes, as in dbt). The row's problem names the columns the expression mentions."""
    expression = _expression(rule)
    found = {
        index: match.start()
        for index, column in enumerate(feed.columns)
        if (match := re.search(r'"' + re.escape(column.name) + r'"|\b' + re.escape(column.name) + r"\b", expression))
    }
    mentioned = sorted(found, key=found.__getitem__)  # in the order the expression names them
    present = [index for index in mentioned if index in positions]
    if len(present) < len(mentioned) or not mentioned:
        return  # a column it needs is missing from the header, which is reported already
    names = ", ".join(headers[index] for index in mentioned)
    values = " || ', ' || ".join(
        f"{_literal(headers[index] + '=')} || coalesce(c{positions[index]}, '')" for index in mentioned
    )
    label = _literal(f"{rule.name}: expected {expression}; found ")
    branches.append(
        f"select idx, {mentioned[0]} as pos, {_literal(names)} as col, 'expression_is_true' as rule, "
        f"{label} || {values} as message, cast(null as bigint) as other from typed_rows where not ({expression})"
    )


def _type_checks(column: Column, fmt: FeedFormat, value: str, shown: str) -> list[tuple[str, str, str]]:
    kind = column.kind
    if kind == "integer":
        return [("type", f"not regexp_full_match({value}, '-?[0-9]+')", f"'not an integer: ' || {shown}")]
    if kind == "decimal":
        return [
            (
                "type",
                f"not regexp_full_match({value}, '{_DECIMAL}')",
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
        return [
            (
                "type",
                f"lower(trim({value})) not in ({_words(_BOOLEANS)})",
                f"'not a boolean (Yes/Y/True/1 or No/N/False/0): ' || {shown}",
            )
        ]
    return []


def _words(words: tuple[str, ...]) -> str:
    return ", ".join(_literal(word) for word in words)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _escape_message(text: str) -> str:
    return text.replace("'", "''")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
