"""Read the first worksheet of an .xlsx workbook as rows of text, with the standard library only.

The project writes XLSX with xlsxwriter, which cannot read; openpyxl is not a dependency, and
DuckDB reads XLSX only through an extension that must be downloaded. An XLSX file is a zip of XML
parts, and the sheet part is streamed with `iterparse` so a large sheet never sits in memory.
Handled: shared strings (`t="s"`), inline strings (`inlineStr`, what xlsxwriter writes in
constant-memory mode), rich-text runs, formula results, booleans, errors, numbers (scientific
notation written out), skipped rows or cells (as empty values), and numbers styled as a date or time
(what Excel stores for a typed date), which come out as `datetime` for the caller to format.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOC_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
#: OOXML writes characters XML cannot hold (and some it can) as _xHHHH_.
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
#: The built-in number formats that show a date or time (ECMA-376 part 1, 18.8.30).
_DATE_FORMAT_IDS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
#: A custom number format shows a date or time when, outside quotes, brackets and escapes, it
#: holds a date or time token.
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.')
_DATE_TOKENS = re.compile(r"[dmyhs]", re.IGNORECASE)
#: Day 0 of Excel's 1900 date system (its phantom 1900-02-29 included) and of the 1904 one.
_EPOCH_1900 = datetime(1899, 12, 30)
_EPOCH_1904 = datetime(1904, 1, 1)


class XlsxError(Exception):
    """The file is not a workbook this reader understands; the message says why."""


Value = str | datetime


def sheet_rows(path: Path) -> Iterator[list[Value]]:
    """Every row of the workbook's first sheet, from row 1 (the header), as lists of values: text,
    or a datetime for a number styled as a date or time.

    A row missing from the sheet comes out as an empty list, so the n-th row yielded is sheet row n.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            sheet, epoch = _first_sheet(archive)
            shared = _shared_strings(archive)
            dated = _date_styles(archive)
            with archive.open(sheet) as stream:
                yield from _rows(stream, shared, dated, epoch)
    except zipfile.BadZipFile as exc:
        raise XlsxError(f"not a readable XLSX workbook (zip): {exc}") from None
    except KeyError as exc:
        raise XlsxError(f"not a readable XLSX workbook: part {exc} is missing") from None
    except ElementTree.ParseError as exc:
        raise XlsxError(f"not a readable XLSX workbook: broken XML ({exc})") from None


def _first_sheet(archive: zipfile.ZipFile) -> tuple[str, datetime]:
    """The zip path of the first sheet in workbook order (not necessarily sheet1.xml), and the
    workbook's date epoch."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    properties = workbook.find(f"{_MAIN}workbookPr")
    date1904 = properties is not None and properties.get("date1904", "").lower() in ("1", "true")
    epoch = _EPOCH_1904 if date1904 else _EPOCH_1900
    first = workbook.find(f"{_MAIN}sheets/{_MAIN}sheet")
    if first is None:
        raise XlsxError("the workbook has no sheets")
    relation = first.get(f"{_DOC_RELS}id")
    relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for item in relations.iter(f"{_PACKAGE_RELS}Relationship"):
        if item.get("Id") == relation:
            target = item.get("Target") or ""
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            return part, epoch
    raise XlsxError(f"the workbook's first sheet {first.get('name')!r} has no part")


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    strings: list[str] = []
    root: ElementTree.Element | None = None
    with archive.open("xl/sharedStrings.xml") as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            if root is None:
                root = element
            elif event == "end" and element.tag == f"{_MAIN}si":
                strings.append(_text(element))
                root.clear()  # drop the parsed items, so memory stays flat
    return strings


def _date_styles(archive: zipfile.ZipFile) -> frozenset[int]:
    """The cell style indexes (`s` of a cell) whose number format shows a date or time."""
    if "xl/styles.xml" not in archive.namelist():
        return frozenset()
    styles = ElementTree.fromstring(archive.read("xl/styles.xml"))
    date_formats = set(_DATE_FORMAT_IDS)
    for number_format in styles.iter(f"{_MAIN}numFmt"):
        code = _FORMAT_NOISE.sub("", number_format.get("formatCode") or "")
        if _DATE_TOKENS.search(code):
            date_formats.add(int(number_format.get("numFmtId") or -1))
    cell_formats = styles.find(f"{_MAIN}cellXfs")
    if cell_formats is None:
        return frozenset()
    return frozenset(
        index for index, xf in enumerate(cell_formats.iter(f"{_MAIN}xf")) if int(xf.get("numFmtId") or 0) in date_formats
    )


def _text(element: ElementTree.Element) -> str:
    """The text of a shared or inline string: its `t`, or its rich-text runs' `t`s (not the phonetic `rPh`)."""
    parts: list[str] = []
    for child in element:
        if child.tag == f"{_MAIN}t":
            parts.append(child.text or "")
        elif child.tag == f"{_MAIN}r":
            parts.extend(run.text or "" for run in child.iter(f"{_MAIN}t"))
    text = "".join(parts)
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), text) if "_x" in text else text


def _rows(stream: IO[bytes], shared: list[str], dated: frozenset[int], epoch: datetime) -> Iterator[list[Value]]:
    next_row = 1
    values: dict[int, Value] = {}
    sheet_data: ElementTree.Element | None = None
    for event, element in ElementTree.iterparse(stream, events=("start", "end")):
        tag = element.tag
        if event == "start":
            if tag == f"{_MAIN}sheetData":
                sheet_data = element
            continue
        if tag == f"{_MAIN}c":
            values[_column_index(element.get("r"), len(values))] = _cell_value(element, shared, dated, epoch)
        elif tag == f"{_MAIN}row":
            number = int(element.get("r") or next_row)
            while next_row < number:
                yield []
                next_row += 1
            width = max(values) + 1 if values else 0
            yield [values.get(index, "") for index in range(width)]
            next_row = number + 1
            values = {}
            # Drop the parsed rows, so memory stays flat however long the sheet is.
            (sheet_data if sheet_data is not None else element).clear()


def _column_index(reference: str | None, default: int) -> int:
    """0-based column of a cell reference such as "AB12" (the cell's position when it has none)."""
    if not reference:
        return default
    index = 0
    for char in reference:
        if not char.isalpha():
            break
        index = index * 26 + (ord(char.upper()) - ord("A") + 1)
    return index - 1


def _cell_value(cell: ElementTree.Element, shared: list[str], dated: frozenset[int], epoch: datetime) -> Value:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(f"{_MAIN}is")
        return "" if inline is None else _text(inline)
    value = cell.findtext(f"{_MAIN}v")
    if value is None:
        return ""
    if kind == "s":
        try:
            return shared[int(value)]
        except (ValueError, IndexError):
            raise XlsxError(f"cell {cell.get('r')} points at shared string {value}, which does not exist") from None
    if kind == "b":
        return "TRUE" if value.strip() == "1" else "FALSE"
    if kind == "n" and int(cell.get("s") or 0) in dated:
        try:
            # Whole milliseconds: a serial's fraction of a day is a binary double.
            return epoch + timedelta(milliseconds=round(float(value) * 86_400_000))
        except (ValueError, OverflowError):
            return value
    if kind == "n" and ("E" in value or "e" in value):
        # Excel and xlsxwriter write small or large doubles as 1E-07; the feed wants plain decimals.
        try:
            return format(Decimal(value), "f")
        except InvalidOperation:
            return value
    return value
