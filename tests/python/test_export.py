"""Export on a real DuckDB file shaped like the feed marts: format, round-trips, safety of the rename."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from runner.config import FeedFormat
from runner.errors import ExportError
from runner.feed_file import file_name
from runner.warehouse.export import export_feed
from runner.feed import Column, Feed

ORDER_COLUMNS = (
    Column("Email", "varchar", 100, True),
    Column("OrderNumber", "varchar", 50, True),
    Column("DateEntered", "timestamp", None, True),
    Column("OrderTotal", "decimal(18,2)", None, True),
    Column("ItemTotal", "decimal(18,2)"),
    Column("TaxTotal", "decimal(18,2)"),
    Column("ShippingTotal", "decimal(18,2)"),
    Column("HandlingTotal", "decimal(18,2)"),
    Column("Status", "integer", None, True),
    Column("ShipDate", "timestamp"),
    Column("TrackingNumber", "varchar", 32),
    Column("ShippingMethod", "varchar", 32),
    Column("CouponCode", "varchar", 32),
    Column("DiscountTotal", "decimal(18,2)"),
    Column("Source", "varchar", 25),
    *(Column(f"Meta{n}", "varchar", 500) for n in range(1, 6)),
)

PRODUCT_COLUMNS = (
    Column("Sku", "varchar", 100, True),
    Column("Title", "varchar", 500, True),
    Column("Price", "decimal(18,2)", None, True),
    Column("SaleStartDate", "date"),
    Column("OnSale", "boolean", None, True),
    Column("IsClearance", "boolean"),
    Column("QOH", "integer", None, True),
)

ORDERS_HEADER = [column.name for column in ORDER_COLUMNS]


def _feed(database: Path, name: str, model: str, columns: tuple[Column, ...], key: tuple[str, ...]) -> Feed:
    catalog = database.stem
    return Feed(
        name=name,
        model=model,
        relation=f'"{catalog}"."main"."{model}"',
        file_name=f"Listrak_{name}_{{date}}",
        key=key,
        columns=columns,
    )


@pytest.fixture()
def database(tmp_path: Path) -> Path:
    path = tmp_path / "marts.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            """
            create table listrak_orders (
                "Email" varchar, "OrderNumber" varchar, "DateEntered" timestamp, "OrderTotal" decimal(18,2),
                "ItemTotal" decimal(18,2), "TaxTotal" decimal(18,2), "ShippingTotal" decimal(18,2),
                "HandlingTotal" decimal(18,2), "Status" integer, "ShipDate" timestamp, "TrackingNumber" varchar,
                "ShippingMethod" varchar, "CouponCode" varchar, "DiscountTotal" decimal(18,2), "Source" varchar,
                "Meta1" varchar, "Meta2" varchar, "Meta3" varchar, "Meta4" varchar, "Meta5" varchar
            )
            """
        )
        connection.execute(
            """
            insert into listrak_orders values
            ('ann@example.com', '1001', '2024-03-05 14:07:09', 50, 45.5, 3.25, 1.25, null, 7,
             '2024-03-06 08:00:00', '1Z999', 'UPS Ground', null, 0, 'online', 'a, b', 'say "hi"', 'é ü ✓', null, ''),
            ('bob@example.com', '1002', '2024-03-05 23:59:59', 1234567.89, null, null, null, null, 10,
             null, null, null, 'SAVE10', null, 'POS', 'x|y', 'tab	inside', null, null, null),
            ('cy@example.com', '1003', '2024-12-31 00:00:00', 0, 0, 0, 0, 0, 0,
             null, null, null, null, null, null, null, null, null, null, null)
            """
        )
        connection.execute(
            """
            create table listrak_products (
                "Sku" varchar, "Title" varchar, "Price" decimal(18,2), "SaleStartDate" date,
                "OnSale" boolean, "IsClearance" boolean, "QOH" integer
            )
            """
        )
        connection.execute(
            """
            insert into listrak_products values
            ('SKU-1', 'Blue shirt', 19.9, '2024-07-01', true, false, 12),
            ('SKU-2', 'Red shirt', 5, null, false, null, 0)
            """
        )
    return path


@pytest.fixture()
def connection(database: Path):
    with duckdb.connect(str(database)) as connection:
        yield connection


@pytest.fixture()
def orders(database: Path) -> Feed:
    return _feed(database, "orders", "listrak_orders", ORDER_COLUMNS, ("OrderNumber",))


@pytest.fixture()
def products(database: Path) -> Feed:
    return _feed(database, "products", "listrak_products", PRODUCT_COLUMNS, ("Sku",))


def _rows(path: Path, fmt: FeedFormat) -> list[list[str]]:
    encoding = "utf-16" if fmt.encoding == "utf-16" else ("utf-8-sig" if fmt.bom else "utf-8")
    with open(path, encoding=encoding, newline="") as handle:
        return list(csv.reader(handle, delimiter=fmt.delimiter, quotechar=fmt.quote))


def test_file_name_fills_the_date_and_adds_the_extension(orders: Feed) -> None:
    assert file_name(orders, FeedFormat(), date(2024, 3, 5), "%Y%m%d") == "Listrak_orders_20240305.csv"
    assert file_name(orders, FeedFormat(extension="txt", delimiter="|"), datetime(2024, 3, 5, 23), "%Y-%m-%d") == (
        "Listrak_orders_2024-03-05.txt"
    )
    with pytest.raises(ExportError, match="plain name"):
        file_name(orders, FeedFormat(), date(2024, 3, 5), "%Y/%m/%d")


def test_orders_csv_is_read_back_by_python_csv_and_duckdb(connection, orders: Feed, tmp_path: Path) -> None:
    fmt = FeedFormat()
    out = tmp_path / "out"
    result = export_feed(connection, orders, fmt, out, "orders.csv")

    assert result.path == out / "orders.csv"
    assert result.rows == 3
    data = result.path.read_bytes()
    assert result.bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert sorted(p.name for p in out.iterdir()) == ["orders.csv"]  # no temporary file left

    rows = _rows(result.path, fmt)
    assert rows[0] == ORDERS_HEADER
    assert len(rows) == 4
    first = dict(zip(rows[0], rows[1]))
    assert first["OrderTotal"] == "50.00"
    assert first["ItemTotal"] == "45.50"
    assert first["HandlingTotal"] == ""  # null -> empty field
    assert first["DateEntered"] == "2024-03-05 14:07:09"
    assert first["Status"] == "7"
    assert first["Meta1"] == "a, b"  # embedded delimiter round-trips
    assert first["Meta2"] == 'say "hi"'  # embedded quotes round-trip
    assert first["Meta3"] == "é ü ✓"
    second = dict(zip(rows[0], rows[2]))
    assert second["OrderTotal"] == "1234567.89"  # no thousands separator
    assert '"say ""hi"""' in data.decode()  # quotes are doubled, not backslash-escaped
    assert b"\r" not in data

    read_back = connection.execute(
        f"select * from read_csv('{result.path}', header = true, all_varchar = true)"
    )
    assert [d[0] for d in read_back.description] == ORDERS_HEADER
    assert len(read_back.fetchall()) == 3


def test_products_booleans_dates_and_formats(connection, products: Feed, tmp_path: Path) -> None:
    fmt = FeedFormat(true_value="Yes", false_value="No", date_format="%m/%d/%Y")
    result = export_feed(connection, products, fmt, tmp_path, "products.csv")
    rows = _rows(result.path, fmt)
    assert rows == [
        ["Sku", "Title", "Price", "SaleStartDate", "OnSale", "IsClearance", "QOH"],
        ["SKU-1", "Blue shirt", "19.90", "07/01/2024", "Yes", "No", "12"],
        ["SKU-2", "Red shirt", "5.00", "", "No", "", "0"],
    ]


def test_iso_timestamps_and_header_overrides(connection, orders: Feed, tmp_path: Path) -> None:
    fmt = FeedFormat(timestamp_format="%Y-%m-%dT%H:%M:%SZ", headers={"Email": "email", "OrderNumber": "Order Number"})
    result = export_feed(connection, orders, fmt, tmp_path, "orders.csv")
    rows = _rows(result.path, fmt)
    assert rows[0][:3] == ["email", "Order Number", "DateEntered"]
    assert rows[1][2] == "2024-03-05T14:07:09Z"


@pytest.mark.parametrize("delimiter", ["|", "\t"])
def test_pipe_and_tab_delimiters(connection, orders: Feed, tmp_path: Path, delimiter: str) -> None:
    fmt = FeedFormat(extension="txt", delimiter=delimiter)
    result = export_feed(connection, orders, fmt, tmp_path, "orders.txt")
    text = result.path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == delimiter.join(ORDERS_HEADER)
    rows = _rows(result.path, fmt)
    assert all(len(row) == len(ORDERS_HEADER) for row in rows)
    second = dict(zip(rows[0], rows[2]))
    assert second["Meta1"] == "x|y"
    assert second["Meta2"] == "tab\tinside"
    read_back = connection.execute(
        f"select * from read_csv('{result.path}', delim = '{delimiter}', header = true, all_varchar = true)"
    ).fetchall()
    assert len(read_back) == 3


def test_crlf_quote_all_and_bom(connection, orders: Feed, tmp_path: Path) -> None:
    fmt = FeedFormat(line_ending="crlf", quote_all=True, bom=True)
    result = export_feed(connection, orders, fmt, tmp_path, "orders.csv")
    data = result.path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf\"Email\",\"OrderNumber\"")
    assert data.count(b"\r\n") == 4 and data.count(b"\n") == 4
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.bytes == len(data)
    assert _rows(result.path, fmt)[1][0] == "ann@example.com"
    assert '"ann@example.com","1001"' in data.decode("utf-8-sig")


def test_utf16(connection, orders: Feed, tmp_path: Path) -> None:
    fmt = FeedFormat(encoding="utf-16")
    result = export_feed(connection, orders, fmt, tmp_path, "orders.csv")
    data = result.path.read_bytes()
    assert data.startswith(b"\xff\xfe")
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.bytes == len(data)
    rows = _rows(result.path, fmt)
    assert rows[0] == ORDERS_HEADER and len(rows) == 4
    assert rows[1][ORDERS_HEADER.index("Meta3")] == "é ü ✓"
    read_back = connection.execute(
        f"select * from read_csv('{result.path}', encoding = 'utf-16', header = true, all_varchar = true)"
    ).fetchall()
    assert len(read_back) == 3


def test_empty_mart_gives_a_header_only_file(connection, orders: Feed, tmp_path: Path) -> None:
    connection.execute("delete from listrak_orders")
    result = export_feed(connection, orders, FeedFormat(), tmp_path, "orders.csv")
    assert result.rows == 0
    assert result.path.read_text() == ",".join(ORDERS_HEADER) + "\n"


def _order_items(connection: duckdb.DuckDBPyConnection, database: Path, rows: int) -> Feed:
    """An order-items mart of `rows` rows keyed by (OrderNumber, Sku): orders of three lines,
    numbers whose text order is not their numeric order, a few rows without an order number."""
    connection.execute(
        f"""
        create or replace table listrak_order_items as
        select
            case when i % 997 = 0 then null else '#' || cast(i // 3 as varchar) end as "OrderNumber",
            'SKU-' || cast(hash(i) % 100000 as varchar) || '-' || cast(i as varchar) as "Sku",
            cast(1 + i % 4 as integer) as "Quantity",
            cast((i % 10000) / 100 as decimal(18, 2)) as "Price",
            repeat(chr(97 + cast(i % 26 as integer)), 40 + cast(i % 50 as integer)) as "Title"
        from range({rows}) as numbers (i)
        """
    )
    columns = (Column("OrderNumber", "varchar", 50), Column("Sku", "varchar", 100, True),
               Column("Quantity", "integer", None, True), Column("Price", "decimal(18,2)", None, True),
               Column("Title", "varchar", 500))
    return _feed(database, "order_items", "listrak_order_items", columns, ("OrderNumber", "Sku"))


def test_a_sorted_file_too_big_to_sort_at_once_is_written_in_key_ranges_with_the_same_bytes(
    connection, database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runner.warehouse.export as export

    items = _order_items(connection, database, 30_000)
    whole = export_feed(connection, items, FeedFormat(), tmp_path / "whole", "items.csv")
    assert export._sorted_ranges(connection, items, whole.rows) == [""]  # fits the cap: one COPY

    # A cap that holds some 500 of these rows at a time: dozens of ranges, NULL order numbers last.
    monkeypatch.setattr(export, "_MIN_RANGE_ROWS", 1)
    monkeypatch.setattr(export, "_MIN_SAMPLED_ROWS", 1)
    monkeypatch.setattr(export, "SORT_BYTES_PER_BYTE", export._memory_limit(connection) / 1000 / 60)
    ranges = export._sorted_ranges(connection, items, whole.rows)
    assert 20 <= len(ranges) <= 120 and ranges[-1].endswith("is null"), ranges
    ranged = export_feed(connection, items, FeedFormat(), tmp_path / "ranged", "items.csv")
    assert (ranged.rows, ranged.sha256) == (whole.rows, whole.sha256) == (30_000, whole.sha256)
    assert ranged.path.read_bytes() == whole.path.read_bytes()
    assert sorted(path.name for path in (tmp_path / "ranged").iterdir()) == ["items.csv"]

    # A line break in a late range stops the export as in one COPY, and leaves no file or piece.
    connection.execute("""update listrak_order_items set "Title" = 'a' || chr(10) || 'b' where "OrderNumber" = '#9990'""")
    with pytest.raises(ExportError, match=r"order_items.*Title.*line break"):
        export_feed(connection, items, FeedFormat(), tmp_path / "broken", "items.csv")
    assert list((tmp_path / "broken").iterdir()) == []


def test_a_sorted_file_bigger_than_the_memory_cap_is_written(connection, database: Path, tmp_path: Path) -> None:
    # 600,000 rows of some 100 bytes under a 100MB cap: DuckDB 2.0 sorts about 250,000 of them there
    # on two threads and stops with "Out of Memory" on the whole file (checked by hand).
    items = _order_items(connection, database, 600_000)
    connection.execute("set threads = 2")
    connection.execute("set memory_limit = '100MB'")
    capped = export_feed(connection, items, FeedFormat(), tmp_path / "capped", "items.csv")
    connection.execute("set memory_limit = '2GB'")
    free = export_feed(connection, items, FeedFormat(), tmp_path / "free", "items.csv")
    assert capped.rows == free.rows == 600_000
    assert capped.sha256 == free.sha256


@pytest.mark.parametrize(
    "fmt", [FeedFormat(), FeedFormat(line_ending="crlf"), FeedFormat(encoding="utf-16"), FeedFormat(format="xlsx")]
)
@pytest.mark.parametrize("line_break", ["\n", "\r", "\r\n"])
def test_a_line_break_in_a_value_fails_and_leaves_no_file(
    connection, orders: Feed, tmp_path: Path, fmt: FeedFormat, line_break: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "orders.csv").write_text("yesterday's file\n")  # an older file of the same name is not replaced
    connection.execute("update listrak_orders set \"Meta4\" = ? where \"OrderNumber\" = '1002'", [f"a{line_break}b"])
    with pytest.raises(ExportError, match=r"orders.*line break"):
        export_feed(connection, orders, fmt, out, "orders.csv")
    assert sorted(p.name for p in out.iterdir()) == ["orders.csv"]
    assert (out / "orders.csv").read_text() == "yesterday's file\n"


def test_a_missing_mart_is_an_export_error(connection, orders: Feed, tmp_path: Path) -> None:
    connection.execute("drop table listrak_orders")
    with pytest.raises(ExportError, match="does not exist"):
        export_feed(connection, orders, FeedFormat(), tmp_path / "out", "orders.csv")
    assert list((tmp_path / "out").iterdir()) == []


def _sheet_cells(path: Path) -> tuple[list[str], str]:
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
        shared = archive.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in archive.namelist() else ""
    return re.findall(r"<c [^>]*>.*?</c>", sheet), shared + sheet


def test_xlsx_has_typed_cells_and_a_header(connection, orders: Feed, products: Feed, tmp_path: Path) -> None:
    fmt = FeedFormat(format="xlsx", headers={"Email": "email"})
    assert file_name(orders, fmt, date(2024, 3, 5), "%Y%m%d").endswith(".xlsx")
    result = export_feed(connection, orders, fmt, tmp_path, "orders.xlsx")
    assert result.rows == 3
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    cells, text = _sheet_cells(result.path)
    # xlsxwriter's constant_memory mode writes strings inline in the sheet.
    assert "email" in text and "ann@example.com" in text and "2024-03-05 14:07:09" in text
    assert '=formula' not in text
    total = next(cell for cell in cells if 'r="D2"' in cell)  # OrderTotal of the first order
    assert 't="' not in total and "<v>50</v>" in total  # a number, not text
    status = next(cell for cell in cells if 'r="I3"' in cell)
    assert "<v>10</v>" in status
    email = next(cell for cell in cells if 'r="A2"' in cell)
    assert 't="inlineStr"' in email or 't="s"' in email
    assert not any('r="H2"' in cell for cell in cells)  # null: no cell

    booleans = export_feed(connection, products, FeedFormat(format="xlsx"), tmp_path, "products.xlsx")
    _, text = _sheet_cells(booleans.path)
    assert "True" in text and "False" in text and "2024-07-01" in text


def test_xlsx_keeps_leading_equals_as_text(connection, orders: Feed, tmp_path: Path) -> None:
    connection.execute("update listrak_orders set \"Meta5\" = '=1+1' where \"OrderNumber\" = '1001'")
    result = export_feed(connection, orders, FeedFormat(format="xlsx"), tmp_path, "orders.xlsx")
    cells, _ = _sheet_cells(result.path)
    meta5 = next(cell for cell in cells if 'r="T2"' in cell)
    assert "<f>" not in meta5 and "=1+1" in meta5


def test_unicode_round_trip_through_duckdb(connection, orders: Feed, tmp_path: Path) -> None:
    result = export_feed(connection, orders, FeedFormat(bom=True), tmp_path, "orders.csv")
    values = connection.execute(
        f"select \"Meta3\" from read_csv('{result.path}', header = true, all_varchar = true) where \"OrderNumber\" = '1001'"
    ).fetchone()
    assert values == ("é ü ✓",)
    # csv module with the BOM stripped sees exactly the spec header
    reader = csv.reader(io.StringIO(result.path.read_text(encoding="utf-8-sig")))
    assert next(reader) == ORDERS_HEADER


def test_a_line_break_is_named_by_feed_and_column(connection, orders: Feed, tmp_path: Path) -> None:
    connection.execute("update listrak_orders set \"CouponCode\" = 'SAVE\nTEN' where \"OrderNumber\" = '1002'")
    with pytest.raises(ExportError) as caught:
        export_feed(connection, orders, FeedFormat(), tmp_path / "out", "orders.csv", digest=False)
    message = str(caught.value)
    assert message.startswith("feed orders: column CouponCode holds a line break"), message
    assert "listrak_orders" in message and "Invalid Input" not in message
    assert list((tmp_path / "out").iterdir()) == []


def test_a_header_with_a_line_break_is_refused(connection, orders: Feed, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="header 'E\\\\nmail'"):
        # The configuration refuses it already; this is the export's own guard for callers that build a format.
        export_feed(connection, orders, FeedFormat.model_construct(headers={"Email": "E\nmail"}), tmp_path, "orders.csv")


def test_without_digest_the_file_is_the_same_and_the_hash_left_to_the_caller(
    connection, orders: Feed, tmp_path: Path
) -> None:
    hashed = export_feed(connection, orders, FeedFormat(), tmp_path / "a", "orders.csv")
    plain = export_feed(connection, orders, FeedFormat(), tmp_path / "b", "orders.csv", digest=False, expected_rows=3)
    assert plain.sha256 is None and plain.bytes == hashed.bytes
    assert hashlib.sha256(plain.path.read_bytes()).hexdigest() == hashed.sha256
    with pytest.raises(ExportError, match="would hold 3 rows but the mart .* has 4"):
        export_feed(connection, orders, FeedFormat(), tmp_path / "c", "orders.csv", expected_rows=4)
    assert not (tmp_path / "c" / "orders.csv").exists()
