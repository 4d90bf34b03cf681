"""Every encoding Listrak accepts (UTF-8 with or without BOM, UTF-16 "Unicode", ASCII, UTF-7): the
export writes it, `feeds validate` reads it back, and ASCII transliterates and counts what it drops."""

from __future__ import annotations

import codecs
from pathlib import Path

import duckdb
import pytest

from runner.config import FeedFormat, load_settings
from runner.errors import ConfigError
from runner.feed import Column, Feed
from runner.validate import validate
from runner.warehouse.export import export_feed

COLUMNS = (
    Column("Sku", "varchar", 100, True),
    Column("Title", "varchar", 500, True),
    Column("Brand", "varchar", 50),
    Column("Price", "decimal(18,2)", None, True),
    Column("OnSale", "boolean", None, True),
)
#: Accents, typography, letters strip_accents keeps, and characters with no ASCII form (emoji, CJK),
#: plus what UTF-7 treats specially (+, -, quotes, the pipe).
ROWS = [
    ("A-1", "Crème brûlée – “Deluxe” 👍", "Straße & Søn", "12.50", True),
    ("A-2", "1+1 offer: 50% off | \"quoted\"", "Œuvre…", "3.00", False),
    ("A-3", "日本 tea", None, "7.25", False),
    ("A-4", "plain ascii", "Brand", "1.00", True),
]
#: The same rows as the ASCII file holds them; 👍, 日 and 本 have no ASCII form and are dropped.
ASCII_ROWS = [
    ["A-1", 'Creme brulee - "Deluxe" ', "Strasse & Son", "12.50", "True"],
    ["A-2", '1+1 offer: 50% off | "quoted"', "OEuvre...", "3.00", "False"],
    ["A-3", " tea", "", "7.25", "False"],
    ["A-4", "plain ascii", "Brand", "1.00", "True"],
]
ENCODINGS = [
    (FeedFormat(), "utf-8"),
    (FeedFormat(bom=True), "utf-8-sig"),
    (FeedFormat(encoding="utf-16"), "utf-16"),
    (FeedFormat(encoding="ascii"), "ascii"),
    (FeedFormat(encoding="utf-7"), "utf-7"),
    (FeedFormat(encoding="utf-7", delimiter="|", line_ending="crlf"), "utf-7"),
]


@pytest.fixture()
def products(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Feed]:
    path = tmp_path / "marts.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute(
        'create table listrak_products ("Sku" varchar, "Title" varchar, "Brand" varchar, "Price" decimal(18,2), "OnSale" boolean)'
    )
    connection.executemany("insert into listrak_products values (?, ?, ?, ?, ?)", ROWS)
    feed = Feed("products", "listrak_products", '"marts"."main"."listrak_products"', "Listrak_Product_Feed_{date}",
                ("Sku",), columns=COLUMNS)
    yield connection, feed
    connection.close()


def _read(path: Path, codec: str, fmt: FeedFormat) -> list[list[str]]:
    import csv
    import io

    text = path.read_bytes().decode(codec)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter))


def test_every_encoding_round_trips_through_validate(products, tmp_path: Path) -> None:
    connection, feed = products
    expected = [[sku, title, brand or "", price, str(on_sale)] for sku, title, brand, price, on_sale in ROWS]
    for index, (fmt, codec) in enumerate(ENCODINGS):
        result = export_feed(connection, feed, fmt, tmp_path / str(index), "Listrak_Product_Feed_20260101.csv")
        data = result.path.read_bytes()
        rows = _read(result.path, codec, fmt)
        assert rows[0] == [column.name for column in COLUMNS], fmt
        assert rows[1:] == (ASCII_ROWS if fmt.encoding == "ascii" else expected), fmt
        if fmt.encoding in ("ascii", "utf-7"):
            assert data.isascii(), fmt
        if fmt.encoding == "utf-7":
            assert b"+" in data and "Crème".encode("utf-7") in data
        # Read back with the configured format, as `feeds validate` does with feeds.yml.
        checked = validate(result.path, feed, fmt)
        assert checked.problems == [], (fmt, checked.problems)
        assert (fmt.encoding if fmt.encoding != "ascii" else "utf-8") in checked.detected, checked.detected


def test_ascii_transliterates_and_counts_dropped_characters_per_column(products, tmp_path: Path) -> None:
    connection, feed = products
    result = export_feed(connection, feed, FeedFormat(encoding="ascii"), tmp_path, "p.csv")
    # 👍 in A-1, 日本 in A-3: Title only; Brand's ß, ø, Œ and … all have ASCII forms.
    assert result.dropped == {"Title": 3}
    assert result.path.read_bytes().isascii()
    clean = export_feed(connection, feed, FeedFormat(), tmp_path, "q.csv")
    assert clean.dropped == {}


def test_a_utf7_file_with_its_bom_is_read_as_utf7_without_configuration(products, tmp_path: Path) -> None:
    connection, feed = products
    result = export_feed(connection, feed, FeedFormat(encoding="utf-7"), tmp_path, "p.csv")
    marked = tmp_path / "marked.csv"
    marked.write_bytes("\ufeff".encode("utf-7") + result.path.read_bytes())
    assert marked.read_bytes().startswith(b"+/v")
    checked = validate(marked, feed, FeedFormat())
    assert checked.problems == [] and "utf-7" in checked.detected


def test_invalid_utf7_is_an_encoding_problem(products, tmp_path: Path) -> None:
    _, feed = products
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Sku,Title,Brand,Price,OnSale\nA-1,+\xff,x,1.00,True\n")
    checked = validate(bad, feed, FeedFormat(encoding="utf-7"))
    # Not 7-bit, so not taken for UTF-7: read as UTF-8, whose reader rejects the byte.
    assert [problem.rule for problem in checked.problems] == ["encoding"]
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"Sku,Title,Brand,Price,OnSale\nA-1,+2,x,1.00,True\n")  # "+2" opens an unfinished shift
    problems = validate(broken, feed, FeedFormat(encoding="utf-7")).problems
    assert problems and problems[0].rule == "encoding" and "UTF-7" in problems[0].message


@pytest.mark.parametrize("encoding", ["ascii", "utf-7"])
def test_a_bom_only_goes_with_utf8(tmp_path: Path, encoding: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(f"defaults:\n  encoding: {encoding}\n  bom: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"defaults: bom: true does not go with encoding {encoding}"):
        load_settings(config, environ={})
    config.write_text(f"defaults:\n  bom: true\nfeeds:\n  orders:\n    encoding: {encoding}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"feeds.orders: bom: true does not go with encoding {encoding}"):
        load_settings(config, environ={})
    config.write_text(f"defaults:\n  encoding: {encoding}\n", encoding="utf-8")
    assert load_settings(config, environ={}).feed_format("orders").encoding == encoding


def test_ascii_headers_must_be_ascii(products, tmp_path: Path) -> None:
    from runner.errors import ExportError

    connection, feed = products
    with pytest.raises(ExportError, match="not ASCII"):
        export_feed(connection, feed, FeedFormat(encoding="ascii", headers={"Title": "Titré"}), tmp_path, "p.csv")
    assert codecs.lookup("utf-7")  # the codec the export and validate use ships with Python


def test_validate_flags_non_ascii_text_in_a_feed_configured_as_ascii(products, tmp_path: Path) -> None:
    connection, feed = products
    result = export_feed(connection, feed, FeedFormat(), tmp_path, "p.csv")  # UTF-8, accents and all
    problems = validate(result.path, feed, FeedFormat(encoding="ascii")).problems
    assert [problem.rule for problem in problems] == ["encoding"] and "non-ASCII byte" in problems[0].message
    assert validate(result.path, feed, FeedFormat()).problems == []
