"""validate_file on our own exports and on hand-made bad files: each rule reports its row and column."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from runner.config import FeedFormat
from runner.errors import ConfigError
from runner.warehouse.export import export_feed
from runner.feed import Column, Feed
from runner.validate import Problem, validate_file

COLUMNS = (
    Column("Email", "varchar", 20, True),
    Column("OrderNumber", "varchar", 10, True),
    Column("DateEntered", "timestamp", None, True),
    Column("OrderTotal", "decimal(18,2)", None, True),
    Column("Status", "integer", None, True),
    Column("ShipDate", "date"),
    Column("Registered", "boolean"),
    Column("Meta1", "varchar", 500),
)
HEADER = "Email,OrderNumber,DateEntered,OrderTotal,Status,ShipDate,Registered,Meta1"
GOOD = "ann@example.com,1001,2024-03-05 14:07:09,50.00,7,2024-03-06,Yes,note"

FEED = Feed(
    name="orders",
    model="listrak_orders",
    relation='"marts"."main"."listrak_orders"',
    file_name="Listrak_Order_Feed_{date}",
    key=("OrderNumber",),
    columns=COLUMNS,
)


def _write(tmp_path: Path, *lines: str, name: str = "file.csv", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


def _found(problems: list[Problem]) -> set[tuple[int | None, str | None, str]]:
    return {(problem.row, problem.column, problem.rule) for problem in problems}


@pytest.mark.parametrize(
    "fmt",
    [
        FeedFormat(),
        FeedFormat(delimiter="|", extension="txt", line_ending="crlf"),
        FeedFormat(delimiter="\t", quote_all=True, bom=True, true_value="Y", false_value="N"),
        FeedFormat(encoding="utf-16", timestamp_format="%Y-%m-%dT%H:%M:%SZ", headers={"Email": "email"}),
    ],
)
def test_our_own_export_validates_clean(tmp_path: Path, fmt: FeedFormat) -> None:
    database = tmp_path / "marts.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute(
            """
            create table listrak_orders as
            select * from (values
                ('ann@example.com', '1001', timestamp '2024-03-05 14:07:09', 50.00::decimal(18,2), 7,
                 date '2024-03-06', true, 'a, "quoted" | tab	é'),
                ('bob@example.com', '1002', timestamp '2024-03-05 23:59:59', 0.5::decimal(18,2), 10,
                 null, null, null)
            ) as t("Email", "OrderNumber", "DateEntered", "OrderTotal", "Status", "ShipDate", "Registered", "Meta1")
            """
        )
        result = export_feed(connection, FEED, fmt, tmp_path / "out", "orders.csv")
    assert validate_file(result.path, FEED, fmt) == []


def test_a_clean_hand_made_file(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER, GOOD, "bob@example.com,1002,2024-03-05 01:00:00,0,10,,false,")
    assert validate_file(path, FEED, FeedFormat()) == []


def test_each_value_rule_reports_row_column_and_rule(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER,
        GOOD,
        ",1002,2024-03-05 14:07:09,50.00,7,,,",  # row 2: Email required
        "c@example.com,1003,2024-03-05 14:07:09,\"$1,234.00\",7,,,",  # row 3: money with symbol and separator
        "d@example.com,1004,05/03/2024,12.5,seven,,,",  # row 4: timestamp format, integer
        "e@example.com,1005,2024-03-05 14:07:09,1,7,2024-13-40,maybe,",  # row 5: date, boolean
        "averyveryverylongaddress@example.com,1006,2024-03-05 14:07:09,1,7,,,",  # row 6: max length
        'f@example.com,1007,2024-03-05 14:07:09,1,7,,,"two\nlines"',  # row 7: line break in a value
        "g@example.com,1001,2024-03-05 14:07:09,1,7,,,",  # row 8: duplicate key of row 1
    )
    problems = validate_file(path, FEED, FeedFormat())
    assert _found(problems) == {
        (2, "Email", "required"),
        (3, "OrderTotal", "type"),
        (4, "DateEntered", "type"),
        (4, "Status", "type"),
        (5, "ShipDate", "type"),
        (5, "Registered", "type"),
        (6, "Email", "max_length"),
        (7, "Meta1", "line_break"),
        (8, "OrderNumber", "unique"),
    }
    by_rule = {(problem.row, problem.rule): problem.message for problem in problems}
    assert "currency" in by_rule[(3, "type")] and "$1,234.00" in by_rule[(3, "type")]
    assert "first in row 1" in by_rule[(8, "unique")]
    assert "36 characters" in by_rule[(6, "max_length")]
    assert [problem.row for problem in problems] == sorted(problem.row for problem in problems)


def test_booleans_accept_every_spelling_case_insensitively(tmp_path: Path) -> None:
    rows = [
        f"u{index}@example.com,{index},2024-03-05 14:07:09,1,7,,{word},"
        for index, word in enumerate(["Yes", "y", "TRUE", "1", "no", "N", "False", "0"], start=1)
    ]
    assert validate_file(_write(tmp_path, HEADER, *rows), FEED, FeedFormat()) == []


def test_field_count_is_reported_by_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HEADER,
        GOOD,
        "b@example.com,1002,2024-03-05 14:07:09,1,7",  # row 2: too few fields
        "c@example.com,1003,2024-03-05 14:07:09,1,7,,,,extra",  # row 3: too many
        "d@example.com,1004,2024-03-05 14:07:09,1,seven,,,",  # row 4: still numbered 4
    )
    problems = validate_file(path, FEED, FeedFormat())
    assert _found(problems) == {(2, "ShipDate", "field_count"), (3, None, "field_count"), (4, "Status", "type")}
    assert "Found: 5" in problems[0].message

def test_header_names_order_and_overrides(tmp_path: Path) -> None:
    swapped = "OrderNumber,Email,DateEntered,OrderTotal,Status,ShipDate,Registered,Meta1"
    problems = validate_file(_write(tmp_path, swapped, "1001,ann@example.com,2024-03-05 14:07:09,1,7,,,"), FEED, FeedFormat())
    assert [(p.row, p.rule) for p in problems] == [(0, "header")]
    assert "out of order" in problems[0].message

    renamed = HEADER.replace("Email", "email").replace(",Meta1", ",Notes")
    problems = validate_file(_write(tmp_path, renamed, GOOD, name="renamed.csv"), FEED, FeedFormat())
    assert _found(problems) == {(0, "Email", "header"), (0, "Meta1", "header"), (0, "email", "header"), (0, "Notes", "header")}
    assert any("compared exactly" in p.message for p in problems)

    fmt = FeedFormat(headers={"Email": "email"})
    assert validate_file(_write(tmp_path, HEADER.replace("Email", "email"), GOOD, name="ok.csv"), FEED, fmt) == []
    problems = validate_file(_write(tmp_path, HEADER, GOOD, name="not-overridden.csv"), FEED, fmt)
    assert (0, "email", "header") in _found(problems)


def test_delimiter_comes_from_the_file_and_a_foreign_one_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER.replace(",", "|"), GOOD.replace(",", "|"))
    assert validate_file(path, FEED, FeedFormat()) == []
    assert validate_file(path, FEED, FeedFormat(delimiter="\t")) == []

    semicolon = _write(tmp_path, HEADER.replace(",", ";"), GOOD.replace(",", ";"), name="semicolon.csv")
    problems = validate_file(semicolon, FEED, FeedFormat())
    assert [(p.row, p.rule) for p in problems] == [(0, "delimiter")]
    assert "semicolon" in problems[0].message

    one_column = _write(tmp_path, "Email OrderNumber", "a b", name="spaces.csv")
    assert [p.rule for p in validate_file(one_column, FEED, FeedFormat())] == ["delimiter"]


def test_encoding_problems(tmp_path: Path) -> None:
    bad_bytes = tmp_path / "latin1.csv"
    bad_bytes.write_bytes(f"{HEADER}\n{GOOD}\n".encode() + "c@example.com,1003,2024-03-05 14:07:09,1,7,,,caf\xe9\n".encode("latin-1"))
    assert _found(validate_file(bad_bytes, FEED, FeedFormat())) == {(2, "Meta1", "encoding")}

    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(b"\xff\xfe" + f"{HEADER}\n{GOOD}\n".encode("utf-16-le"))
    assert validate_file(utf16, FEED, FeedFormat(encoding="utf-16")) == []
    assert validate_file(utf16, FEED, FeedFormat()) == []  # the encoding comes from the file's BOM

    no_bom = tmp_path / "utf16-no-bom.csv"
    no_bom.write_bytes(f"{HEADER}\n{GOOD}\n".encode("utf-16-le"))
    problems = validate_file(no_bom, FEED, FeedFormat(encoding="utf-16"))
    assert [p.rule for p in problems] == ["encoding"] and "byte-order mark" in problems[0].message


def test_limit_caps_the_list_and_counts_the_rest(tmp_path: Path) -> None:
    rows = [f",{index},2024-03-05 14:07:09,1,7,,," for index in range(1, 51)]  # 50 missing e-mails
    problems = validate_file(_write(tmp_path, HEADER, *rows), FEED, FeedFormat(), limit=10)
    assert len(problems) == 11
    assert [p.row for p in problems[:10]] == list(range(1, 11))
    assert problems[-1].rule == "more" and "40 more" in problems[-1].message


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert [p.rule for p in validate_file(empty, FEED, FeedFormat())] == ["header"]
    with pytest.raises(ConfigError, match="not found"):
        validate_file(tmp_path / "nope.csv", FEED, FeedFormat())
