"""Export: write one feed mart to its dated file, verify it, and only then give it its final name.

CSV and TXT files are written by DuckDB's own `COPY ... TO` from a SELECT that formats every column
by its kind (no Python row loops) and stops the COPY with an error naming the column if any value
holds a line break. DuckDB's CSV writer only writes UTF-8 without a BOM (its `ENCODING` option is
read-only), so a BOM, UTF-16 or UTF-7 (Python's codec) is made in one streaming pass over the file,
which also re-checks the line endings. ASCII is transliterated by the SELECT itself, and the
characters it drops are counted per column with one query before the COPY. The SHA-256 of a plain UTF-8 file is computed here on request, or by the
delivery while it reads the file anyway. XLSX is written by xlsxwriter in constant-memory mode
from batches fetched from DuckDB.

Nothing here knows about dbt or delivery: it takes a DuckDB connection, a Feed and a FeedFormat.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from runner.config import FeedFormat
from runner.errors import ExportError
from runner.feed import Column, Feed
from runner.feed_file import header_names
from runner.hashing import CHUNK, hash_file
from runner.warehouse.connection import Connection
from runner.warehouse.export_sql import LINE_BREAK_MARK, copy_options, dropped_sql, select_sql, xlsx_select
from runner.warehouse.sql import identifier, literal

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOM = codecs.BOM_UTF16_LE
#: Excel's hard limit of rows per worksheet, header included.
XLSX_MAX_ROWS = 1_048_576
_XLSX_BATCH = 10_000
#: The memory a sorted COPY needs beside its rows, and per byte of its rows (_sorted_ranges).
SORT_RESERVE = 96 * 1024 * 1024
SORT_BYTES_PER_BYTE = 1.0
#: Rows sampled for the row width and the ranges' bounds (each row drawn alone, bernoulli: 0.06 s
#: over 2.3M rows, where a reservoir took 1.7 s; whole vectors of 2,048 rows, 0.01 s, gave bounds
#: that put 290,603 of 600,000 rows in the first of three ranges, which then ran out of a 100MB
#: cap); the quantiles the bounds are chosen from. A mart of fewer rows is sorted in one COPY.
_SAMPLE_ROWS = 40_960
_QUANTILES = 256
_MIN_RANGE_ROWS = 20_000
_MIN_SAMPLED_ROWS = 200_000


@dataclass(frozen=True)
class ExportResult:
    """One written feed file."""

    feed: str
    path: Path
    rows: int
    bytes: int
    #: None when the caller asked for no hash (the delivery computes it while sending the file).
    sha256: str | None
    seconds: float
    #: encoding ascii: characters with no ASCII form left out, per column (only columns with any).
    dropped: dict[str, int] = field(default_factory=dict)


#: Two values differing in every field, for checking a column format before anything is built.
_FORMAT_SAMPLES = {
    "timestamp": ("TIMESTAMP '2026-12-31 23:59:58.123456'", "TIMESTAMP '2025-01-02 01:02:03'"),
    "date": ("DATE '2026-12-31'", "DATE '2025-01-02'"),
}


@functools.lru_cache(maxsize=64)
def column_format_problem(pattern: str, kind: str) -> str | None:
    """What is wrong with a strftime pattern for `kind` (timestamp or date) columns, or None.

    Checked with DuckDB itself, as the export formats with its strftime and `feeds validate` reads
    the values back with its strptime: an unknown directive, a pattern that writes every value the
    same, or one whose output cannot be read back is refused before anything is built.
    """
    if "\n" in pattern or "\r" in pattern:
        return "must not hold a line break"
    first, second = _FORMAT_SAMPLES[kind]
    try:
        with duckdb.connect() as connection:
            row = connection.execute(
                f"select strftime({first}, $1), strftime({second}, $1), try_strptime(strftime({first}, $1), $1) is not null",
                [pattern],
            ).fetchone()
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0].removeprefix("Invalid Input Error: ")
        return f"DuckDB's strftime refuses it: {reason}"
    assert row is not None
    formatted, other, readable = row
    if formatted == other:
        return f"writes every {kind} the same ({formatted!r}); use directives such as %Y-%m-%d"
    if not readable:
        return f"writes {formatted!r}, which DuckDB's strptime cannot read back (as `feeds validate` does)"
    return None


def export_feed(
    connection: Connection,
    feed: Feed,
    fmt: FeedFormat,
    out_dir: Path,
    name: str,
    *,
    expected_rows: int | None = None,
    digest: bool = True,
    sort: bool = True,
) -> ExportResult:
    """Write `feed` to `out_dir/name`, verify it, and return what was written.

    The file is written under a hidden temporary name and renamed only after its checks pass; on any
    failure no file (temporary or final) is left behind and ExportError names the feed and the problem.
    `expected_rows` is the row count the caller already knows (else it is counted); `digest=False`
    leaves `sha256` to the caller when a plain UTF-8 file needs no second pass. `sort=False` writes a
    CSV file's rows in no particular order (a warehouse's marts, README "Run on your warehouse"): the
    COPY then neither sorts nor keeps an order, and writes from all threads.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / name
    temporary = out_dir / f".{name}.tmp"
    raw = out_dir / f".{name}.raw.tmp"
    _check_columns(feed)
    _check_headers(feed, fmt)
    sha256: str | None
    dropped: dict[str, int] = {}
    try:
        expected = _count_rows(connection, feed) if expected_rows is None else expected_rows
        if fmt.format == "xlsx":
            rows = _write_xlsx(connection, feed, fmt, temporary, expected)
            size, sha256 = hash_file(temporary)
        else:
            if fmt.encoding == "ascii":
                dropped = _dropped(connection, feed, fmt)
            rows = _copy_csv(connection, feed, fmt, raw, sort, expected)
            if rows != expected:
                raise ExportError(
                    f"feed {feed.name}: {final} would hold {rows} rows but the mart {feed.relation} has {expected}; "
                    "was the mart changed during the export? Run the export again"
                )
            if fmt.bom or fmt.encoding in ("utf-16", "utf-7"):
                size, sha256 = _rewrite_text(raw, temporary, fmt, rows, feed, final)
            else:
                os.replace(raw, temporary)
                size, sha256 = (hash_file(temporary) if digest else (temporary.stat().st_size, None))
        os.replace(temporary, final)
    except duckdb.Error as exc:
        message = str(exc)
        if LINE_BREAK_MARK in message:
            raise ExportError(
                message[message.index(LINE_BREAK_MARK) + len(LINE_BREAK_MARK):].strip()
                + f"; {final} was not written. Fix the mart {feed.model} so no value holds CR or LF "
                "(its no_line_breaks data test should catch this)"
            ) from None
        raise ExportError(f"feed {feed.name}: DuckDB could not write {final}: {exc}") from None
    except OSError as exc:
        raise ExportError(f"feed {feed.name}: could not write {final}: {exc}") from None
    finally:
        for leftover in (raw, temporary):
            leftover.unlink(missing_ok=True)
    return ExportResult(
        feed=feed.name, path=final, rows=rows, bytes=size, sha256=sha256, seconds=time.perf_counter() - started,
        dropped=dropped,
    )


def _check_headers(feed: Feed, fmt: FeedFormat) -> None:
    for header in header_names(feed, fmt):
        if "\n" in header or "\r" in header or not header.strip():
            raise ExportError(f"feed {feed.name}: header {header!r} must be a non-empty name without line breaks; fix headers:")
        if fmt.encoding == "ascii" and not header.isascii():
            raise ExportError(f"feed {feed.name}: header {header!r} is not ASCII but the feed's encoding is ascii; fix headers:")


def _dropped(connection: Connection, feed: Feed, fmt: FeedFormat) -> dict[str, int]:
    """Per column, the characters the ASCII export leaves out (no ASCII form), for the run to report."""
    sql = dropped_sql(feed, fmt)
    if sql is None:
        return {}
    cursor = connection.execute(sql)
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {column[0]: int(count) for column, count in zip(cursor.description, row) if count}


def _check_columns(feed: Feed) -> None:
    if not feed.columns:
        raise ExportError(f"feed {feed.name}: no columns are declared for model {feed.model}; declare them in its YAML")


def _count_rows(connection: Connection, feed: Feed) -> int:
    try:
        row = connection.execute(f"select count(*) from {feed.relation}").fetchone()
    except duckdb.CatalogException:
        raise ExportError(
            f"feed {feed.name}: the mart {feed.relation} does not exist; build it first (feeds build)"
        ) from None
    assert row is not None
    return int(row[0])


def _copy_csv(connection: Connection, feed: Feed, fmt: FeedFormat, target: Path, sort: bool, rows: int) -> int:
    """Write the file with DuckDB's COPY: one, or for a sorted file that would not fit the memory
    cap (_sorted_ranges), one per range of the key's first column, appended in key order."""
    ranges = _sorted_ranges(connection, feed, rows) if sort else [""]
    written = _copy(connection, select_sql(feed, fmt, sort, ranges[0]), target, copy_options(fmt))
    if len(ranges) == 1:
        return written
    piece = target.with_name(target.name + ".part")
    try:
        with open(target, "ab") as out:
            for where in ranges[1:]:
                written += _copy(connection, select_sql(feed, fmt, True, where), piece, copy_options(fmt, header=False))
                with open(piece, "rb") as source:
                    shutil.copyfileobj(source, out, CHUNK)
    finally:
        piece.unlink(missing_ok=True)
    return written


def _copy(connection: Connection, select: str, target: Path, options: str) -> int:
    row = connection.execute(f"copy ({select}) to {literal(str(target))} {options}").fetchone()
    assert row is not None
    return int(row[0])


def _sorted_ranges(connection: Connection, feed: Feed, rows: int) -> list[str]:
    """Conditions that split the mart into ranges of its key's first column, in key order, together
    holding every row once (NULL last, as the sort puts it), each small enough for DuckDB to sort
    under its memory cap; `[""]` (every row) when the whole mart is.

    DuckDB's sort of the formatted rows does not keep to its cap on two threads: at 1M orders the
    order items (2.3M rows, 98 bytes each in the file) sort in one COPY under a 200MB cap but not
    under 100MB, where 255k rows do and 509k do not (about 80MB plus half the bytes); at 10M orders
    they ran out of the default 500MB. A range gets the cap less SORT_RESERVE (a quarter of the cap
    at least), at SORT_BYTES_PER_BYTE per byte of its rows, so at 1M orders every feed is still one
    COPY under the default cap. The row width and the bounds (quantiles of the first key column)
    come from a sample of about _SAMPLE_ROWS rows."""
    if rows < _MIN_SAMPLED_ROWS:
        return [""]
    limit = _memory_limit(connection)
    if limit is None:
        return [""]
    column = f"mart.{identifier(feed.key[0])}"
    text = ", ".join(f"cast(mart.{identifier(item.name)} as varchar)" for item in feed.columns)
    fractions = ", ".join(str(step / _QUANTILES) for step in range(1, _QUANTILES))
    row = connection.execute(
        f"select typeof(any_value(sampled)), avg(width), cast(quantile_disc(sampled, [{fractions}]) as varchar[]) "
        f"from (select {column} as sampled, strlen(concat_ws(',', {text})) + {len(feed.columns)} as width "
        f"from {feed.relation} as mart using sample {min(100.0, 100.0 * _SAMPLE_ROWS / rows):.4f}% (bernoulli, 7))"
    ).fetchone()
    assert row is not None
    kind, width, quantiles = row
    per_range = max(_MIN_RANGE_ROWS, int(max(limit - SORT_RESERVE, limit // 4) / (SORT_BYTES_PER_BYTE * float(width or 1))))
    # The bounds come from a sample, so a range can hold more than its share of the rows: half as
    # many ranges again as the rows need.
    count = min(_QUANTILES, -(-rows * 3 // (2 * per_range)))
    if count < 2 or not quantiles:
        return [""]
    picked = [quantiles[round(index * _QUANTILES / count) - 1] for index in range(1, count)]
    bounds = [f"cast({literal(value)} as {kind})" for value in dict.fromkeys(picked) if value is not None]
    if not bounds:
        return [""]
    ranges = [f"{column} < {bounds[0]}"]
    ranges += [f"{column} >= {low} and {column} < {high}" for low, high in zip(bounds, bounds[1:])]
    return ranges + [f"{column} >= {bounds[-1]}", f"{column} is null"]


def _memory_limit(connection: Connection) -> int | None:
    """DuckDB's memory cap in bytes, as current_setting('memory_limit') shows it ('476.8 MiB')."""
    row = connection.execute("select current_setting('memory_limit')").fetchone()
    found = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]i?B|bytes?)\s*", str(row[0] if row else ""))
    if not found:
        return None
    unit = found.group(2)
    scale = 1 if unit.startswith("byte") else (1024 if "i" in unit else 1000) ** ("KMGT".index(unit[0]) + 1)
    return int(float(found.group(1)) * scale)


def _rewrite_text(raw: Path, temporary: Path, fmt: FeedFormat, rows: int, feed: Feed, final: Path) -> tuple[int, str]:
    """Add the BOM or transcode to UTF-16 or UTF-7 in one streaming pass, re-checking line breaks and hashing
    the final bytes.

    Line breaks (the SELECT already refuses values holding them; this second check costs nothing in
    a pass that must happen anyway): DuckDB ends the header and every row with exactly one
    `new_line`, and writes CR or LF nowhere else unless a value holds one (quoted). So the file is free of line breaks inside
    values exactly when it has rows + 1 line terminators and no other CR or LF: with LF endings,
    LF count == rows + 1 and no CR at all; with CRLF endings, CRLF count == LF count == CR count ==
    rows + 1 (no lone CR, no lone LF). UTF-8 never uses the bytes 0x0A/0x0D inside a multi-byte
    character, so counting bytes is exact. The counts run on the UTF-8 output, before any
    transcoding to UTF-16 (where those bytes occur inside other characters).
    """
    crlf_endings = fmt.line_ending == "crlf"
    digest = hashlib.sha256()
    size = line_feeds = returns = crlf = 0
    previous_cr = False
    out = open(temporary, "wb")
    encoder: Callable[[bytes, bool], bytes] | None = None
    try:
        if fmt.encoding in ("utf-16", "utf-7"):
            decoder = codecs.getincrementaldecoder("utf-8")()
            # UTF-7 through Python's codec: each chunk's text is encoded whole (a base64 run is closed
            # at its end), which any UTF-7 reader decodes to the same text.
            target = "utf-16-le" if fmt.encoding == "utf-16" else "utf-7"

            def encoder(chunk: bytes, final_chunk: bool) -> bytes:
                return decoder.decode(chunk, final_chunk).encode(target)

        head = {"utf-16": _UTF16_BOM, "utf-7": b""}.get(fmt.encoding, _UTF8_BOM)
        out.write(head)
        digest.update(head)
        size += len(head)
        with open(raw, "rb") as source:
            while chunk := source.read(CHUNK):
                line_feeds += chunk.count(b"\n")
                if crlf_endings:
                    returns += chunk.count(b"\r")
                    crlf += chunk.count(b"\r\n") + (1 if previous_cr and chunk[:1] == b"\n" else 0)
                    previous_cr = chunk[-1:] == b"\r"
                elif b"\r" in chunk:
                    # Any CR in an LF file is a line break inside a value; the exact count does not matter.
                    returns += chunk.count(b"\r")
                data = encoder(chunk, False) if encoder else chunk
                digest.update(data)
                size += len(data)
                out.write(data)
            if encoder:
                tail = encoder(b"", True)
                digest.update(tail)
                size += len(tail)
                out.write(tail)
    except UnicodeDecodeError as exc:
        raise ExportError(f"feed {feed.name}: DuckDB wrote invalid UTF-8 to {final}: {exc}") from None
    finally:
        out.close()
    expected = rows + 1
    if crlf_endings:
        clean = line_feeds == expected and returns == expected and crlf == expected
    else:
        clean = line_feeds == expected and returns == 0
    if not clean:
        raise ExportError(
            f"feed {feed.name}: {final} was not kept because a value holds a line break: expected {expected} "
            f"line endings ({fmt.line_ending}) for {rows} rows plus the header, found {line_feeds} LF and {returns} CR; "
            f"fix the mart {feed.model} so no value holds CR or LF (its no_line_breaks data test should catch this)"
        )
    return size, digest.hexdigest()


def _write_xlsx(
    connection: Connection, feed: Feed, fmt: FeedFormat, target: Path, expected: int
) -> int:
    import xlsxwriter  # only XLSX feeds need it

    if expected + 1 > XLSX_MAX_ROWS:
        raise ExportError(
            f"feed {feed.name}: {expected} rows do not fit in one XLSX sheet (at most {XLSX_MAX_ROWS - 1}); "
            "use format: csv for this feed"
        )
    workbook = xlsxwriter.Workbook(
        str(target),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    try:
        sheet = workbook.add_worksheet(feed.name[:31])
        money = workbook.add_format({"num_format": "0.00"})
        for index, header in enumerate(header_names(feed, fmt)):
            sheet.write_string(0, index, header)
        writers: list[Callable[[int, int, Any], Any]] = []
        for column in feed.columns:
            if column.kind == "integer":
                writers.append(sheet.write_number)
            elif column.kind == "decimal":
                writers.append(lambda row, col, value: sheet.write_number(row, col, value, money))
            else:
                writers.append(_text_writer(sheet.write_string, feed, column))
        cursor = connection.execute(xlsx_select(feed, fmt))
        row_index = 0
        while batch := cursor.fetchmany(_XLSX_BATCH):
            for record in batch:
                row_index += 1
                for col_index, value in enumerate(record):
                    if value is not None:
                        writers[col_index](row_index, col_index, value)
    finally:
        workbook.close()
    if row_index != expected:
        raise ExportError(f"feed {feed.name}: wrote {row_index} rows but the mart {feed.relation} has {expected}")
    return row_index


def _text_writer(write_string: Callable[..., Any], feed: Feed, column: Column) -> Callable[[int, int, Any], Any]:
    def write(row: int, col: int, value: Any) -> Any:
        if "\n" in value or "\r" in value:
            raise ExportError(
                f"feed {feed.name}: column {column.name} of data row {row} holds a line break; "
                f"fix the mart {feed.model} to remove line breaks"
            )
        return write_string(row, col, value)

    return write

