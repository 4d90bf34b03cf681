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
That part is the warehouse's (`runner/warehouse/file_reader.py`, `file_checks.py`); this module
sniffs the file and checks its header.

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

from runner.config import FeedFormat
from runner.errors import ConfigError
from runner.feed import Feed
from runner.feed_file import header_names
from runner.warehouse.file_checks import CHECKED_TESTS
from runner.warehouse.file_reader import Dialect, Problem, check_rows
from runner.xlsx_reader import XlsxError, sheet_rows

_SNIFF_BYTES = 1024 * 1024
#: Delimiters Listrak accepts, then one it does not (recognised only to name it).
_DELIMITERS = (",", "|", "\t")
_OTHER_DELIMITERS = (";",)
_DELIMITER_NAMES = {",": "comma", "|": "pipe", "\t": "tab", ";": "semicolon"}


@dataclass
class Validation:
    """What validating one file found."""

    problems: list[Problem] = field(default_factory=list)
    #: The format read from the file, e.g. "csv, utf-8, comma-delimited".
    detected: str = ""
    #: Data rules of the contract this file could not be checked against, and why.
    unchecked: list[str] = field(default_factory=list)


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
            result.problems = _validate_text(text, head, feed, fmt, limit, Dialect(",", '"', "utf-8"), result.unchecked)
        return result
    if path.suffix.lower() == ".xlsx":
        result.problems = [Problem(None, None, "format", f"{path.name} is named .xlsx but is not an XLSX workbook (no zip signature)")]
        return result
    encoding_problems, encoding = _check_encoding(head, fmt.encoding)
    if encoding is None:
        result.problems = encoding_problems
        return result
    if encoding == "utf-7":
        # DuckDB has no UTF-7 reader: the file is decoded to a UTF-8 copy in one streaming pass.
        with tempfile.TemporaryDirectory(prefix="feeds-validate-") as scratch:
            text = Path(scratch) / "utf-8.csv"
            problem = _utf7_to_utf8(path, text)
            if problem is not None:
                result.problems = [problem]
                return result
            with open(text, "rb") as source:
                head = source.read(_SNIFF_BYTES)
            label = f"{path.suffix.lstrip('.').lower() or 'text'}, utf-7"
            _validate_delimited(text, head, "utf-8", feed, fmt, limit, result, label=label)
        return result
    _validate_delimited(path, head, encoding, feed, fmt, limit, result)
    if fmt.encoding == "ascii" and encoding == "utf-8":
        result.problems[:0] = _non_ascii(path)
    return result


def _non_ascii(path: Path) -> list[Problem]:
    """For a feed configured as ascii: where the file first holds a byte outside ASCII, if it does."""
    offset = 0
    with open(path, "rb") as source:
        while chunk := source.read(_SNIFF_BYTES):
            if not chunk.isascii():
                at = offset + next(index for index, byte in enumerate(chunk) if byte > 0x7F)
                return [Problem(None, None, "encoding", f"the feed's encoding is ascii but the file holds a non-ASCII "
                                                        f"byte at offset {at}; export it again or set encoding: utf-8")]
            offset += len(chunk)
    return []


def _validate_delimited(
    path: Path, head: bytes, encoding: str, feed: Feed, fmt: FeedFormat, limit: int, result: Validation, label: str = ""
) -> None:
    header, header_problem = _header_line(head, encoding)
    if header_problem is not None:
        result.problems = [header_problem]
        return
    assert header is not None
    delimiter, delimiter_problems = _detect_delimiter(header, header_names(feed, fmt), fmt.quote)
    if delimiter is None:
        result.problems = delimiter_problems
        return
    bom = " with BOM" if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE)) else ""
    label = label or f"{path.suffix.lstrip('.').lower() or 'text'}, {encoding}"
    result.detected = f"{label}{bom}, {_DELIMITER_NAMES[delimiter]}-delimited"
    dialect = Dialect(delimiter, fmt.quote, encoding)
    result.problems = delimiter_problems + _validate_text(path, head, feed, fmt, limit, dialect, result.unchecked, header)


def _utf7_to_utf8(path: Path, target: Path) -> Problem | None:
    """Decode a UTF-7 file into a UTF-8 copy, chunk by chunk; a Problem if it is not valid UTF-7."""
    decoder = codecs.getincrementaldecoder("utf-7")()
    offset = 0
    try:
        with open(path, "rb") as source, open(target, "w", encoding="utf-8", newline="") as out:
            while chunk := source.read(_SNIFF_BYTES):
                out.write(decoder.decode(chunk, False))
                offset += len(chunk)
            out.write(decoder.decode(b"", True))
    except UnicodeDecodeError as exc:
        return Problem(
            None, None, "encoding",
            f"{path.name} is not valid UTF-7 near byte {offset + exc.start}: {exc.reason} (the feed's encoding is utf-7)",
        )
    return None


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
    dialect: Dialect,
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
    row_problems, hidden = check_rows(path, feed, fmt, dialect, fields, positions, limit, unchecked)
    problems += row_problems
    problems.sort(key=lambda problem: (-1 if problem.row is None else problem.row))
    rest = hidden + max(0, len(problems) - limit)
    if rest:
        problems = [*problems[:limit], Problem(None, None, "more", f"{rest} more problems not shown")]
    return problems


#: The byte-order mark in UTF-7: "+/v" and one of these (RFC 2152).
_UTF7_BOM = b"+/v"


def _check_encoding(head: bytes, configured: str = "utf-8") -> tuple[list[Problem], str | None]:
    """Problems with the file's encoding and the encoding to read it with (None: unreadable).

    UTF-7 text is plain ASCII bytes, so it cannot be told from ASCII or UTF-8 by looking: it is read
    as UTF-7 when it starts with UTF-7's BOM, or when the feed's configured encoding is utf-7 and the
    head holds only 7-bit bytes.
    """
    if head[:3] == _UTF7_BOM and head[3:4] in (b"8", b"9", b"+", b"/"):
        return [], "utf-7"
    if configured == "utf-7" and head.isascii() and b"\x00" not in head:
        return [], "utf-7"
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
