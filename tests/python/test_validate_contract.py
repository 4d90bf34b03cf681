"""`feeds validate` holds a file to the marts' own contract: every data test the manifest attaches
to a feed mart, generated into one bad value per rule per feed, in CSV and XLSX; the format comes
from the file; the feed from its name."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import xlsxwriter

from runner.build import DbtProject
from runner.config import FeedFormat
from runner.errors import ConfigError
from runner.feed_file import header_names
from runner.warehouse.export import export_feed
from runner.feed import Feed, Rule
from runner.validate import CHECKED_TESTS, feed_for_file, validate, validate_file
from workspace import REPO, SPEC, Workspace

FMT = FeedFormat()
#: Rules a single file cannot be held to: they need another feed's file, or (feed_accounts_for_every_row)
#: the warehouse's candidate, rejects and source models.
NEEDS_OTHER_FILES = {"relationships", "feed_accounts_for_every_row"}
#: listrak_expression_is_true rules live only in SQL, so their bad rows are written here, by test name; a
#: new expression rule in YAML fails test_every_rule_of_the_contract_has_a_case until it has one.
EXPRESSION_CASES: dict[str, list[dict[str, str]]] = {
    "listrak_products_sale_price_not_above_price": [{"SalePrice": "12.00", "Price": "10.00"}],
    "listrak_products_urls_absolute": [{"ImageUrl": "ftp://ex.co/a.png"}, {"LinkUrl": "http://ex.co/p"}],
}
#: A value of each kind that is not of that kind.
BAD_TYPES = {
    "integer": "seven",
    "decimal": "$1,234.00",
    "timestamp": "05/03/2024",
    "date": "2024-13-40",
    "boolean": "maybe",
}


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Feed]:
    """The four feeds as the CLI reads them: from the project's manifest (parsed when stale)."""
    project = DbtProject(REPO, tmp_path_factory.mktemp("contract") / "feeds.duckdb")
    return {feed.name: feed for feed in project.feeds()}


def _rules(feed: Feed, test: str | None = None) -> list[Rule]:
    return [rule for rule in feed.rules if rule.severity == "error" and (test is None or rule.test == test)]


def _good_row(feed: Feed, number: int) -> dict[str, str]:
    """A row meeting every rule, keys made unique by `number`; values chosen from the rules."""
    row: dict[str, str] = {}
    for column in feed.columns:
        tests = {rule.test: rule for rule in _rules(feed) if rule.column == column.name}
        if "accepted_values" in tests:
            row[column.name] = str(tests["accepted_values"].arguments["values"][0])
        elif "email_format" in tests:
            row[column.name] = f"u{number}@example.com"
        elif column.kind == "text":
            row[column.name] = f"https://ex.co/{number}"  # also an absolute URL, for the URL rule
        else:
            row[column.name] = {
                "integer": "7",
                "decimal": "10.00",
                "timestamp": "2024-03-05 14:07:09",
                "date": "2024-03-06",
                "boolean": "Yes",
            }[column.kind]
    return row


def _beyond(bound: Any, kind: str, direction: int, inclusive: bool) -> str:
    """A value just outside a listrak_accepted_range bound (SQL text, as the test inserts it)."""
    with duckdb.connect() as connection:
        if kind == "date":
            step = f"{direction} * interval 1 day" if inclusive else "interval 0 day"
            value = connection.execute(f"select strftime(cast(({bound}) as date) + {step}, '%Y-%m-%d')").fetchone()
        else:
            value = connection.execute(f"select ({bound}) + {direction if inclusive else 0}").fetchone()
    assert value is not None
    return f"{value[0]:.2f}" if kind == "decimal" else str(value[0])


def _cases(feed: Feed) -> list[tuple[dict[str, str], set[tuple[str, str]]]]:
    """One bad row per rule of the contract (and per data type): the changed values and the
    (column, rule) problems validate must report for that row."""
    cases: list[tuple[dict[str, str], set[tuple[str, str]]]] = []
    kinds = {column.name: column.kind for column in feed.columns}
    for column in feed.columns:
        if column.kind in BAD_TYPES:
            cases.append(({column.name: BAD_TYPES[column.kind]}, {(column.name, "type")}))
    for rule in _rules(feed):
        column = rule.column or ""
        if rule.test == "not_null":
            cases.append(({column: ""}, {(column, "required")}))
        elif rule.test == "max_length":
            cases.append(({column: "x" * (int(rule.arguments["length"]) + 1)}, {(column, "max_length")}))
        elif rule.test == "email_format":
            cases.append(({column: "bad@"}, {(column, "email_format")}))
        elif rule.test in ("accepted_values", "value_in_seed"):
            values = [str(value) for value in rule.arguments["values"]]
            outside = str(max(int(value) for value in values) + 1) if kinds[column] == "integer" else "Z" + "".join(values)
            cases.append(({column: outside}, {(column, "accepted_values")}))
        elif rule.test == "listrak_accepted_range":
            inclusive = rule.arguments.get("inclusive", True)
            for bound, direction in (("min_value", -1), ("max_value", 1)):
                if rule.arguments.get(bound) is not None:
                    value = _beyond(rule.arguments[bound], kinds[column], direction, inclusive)
                    cases.append(({column: value}, {(column, "accepted_range")}))
        elif rule.test == "no_line_breaks":
            text = [name for name, kind in kinds.items() if kind == "text" and name not in feed.key]
            cases.append(({text[-1]: "a\tb"}, {(text[-1], "line_break")}))
        elif rule.test == "listrak_expression_is_true":
            for values in EXPRESSION_CASES[rule.name]:
                expression = rule.arguments["expression"]
                names = sorted((name for name in feed.column_names if f'"{name}"' in expression), key=lambda name: expression.index(f'"{name}"'))
                cases.append((values, {(", ".join(names), "expression_is_true")}))
    return cases


def _unique_sets(feed: Feed) -> list[tuple[str, ...]]:
    sets = [(rule.column,) for rule in _rules(feed, "unique") if rule.column]
    for rule in _rules(feed, "listrak_unique_combination"):
        sets.append(tuple(name.strip('"') for name in rule.arguments["combination_of_columns"]))
    return sets


def _bad_rows(feed: Feed) -> tuple[list[list[str]], dict[int, set[tuple[str, str]]]]:
    """Row 1 good, then one row per case, then one duplicate per unique rule; and what each must report."""
    rows = [_good_row(feed, 1)]
    expected: dict[int, set[tuple[str, str]]] = {}
    for values, problems in _cases(feed):
        rows.append({**_good_row(feed, len(rows) + 1), **values})
        expected[len(rows)] = problems
    for names in _unique_sets(feed):
        duplicate = _good_row(feed, len(rows) + 1)
        duplicate.update({name: rows[0][name] for name in names})
        rows.append(duplicate)
        expected[len(rows)] = {(names[0], "unique")}
    return [[row[name] for name in feed.column_names] for row in rows], expected


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    return path


def _write_xlsx(path: Path, header: list[str], rows: list[list[str]], constant_memory: bool) -> Path:
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory, "strings_to_numbers": False})
    sheet = workbook.add_worksheet("feed")
    for row_index, row in enumerate([header, *rows]):
        for col_index, value in enumerate(row):
            if value != "":
                sheet.write_string(row_index, col_index, value)
    workbook.close()
    return path


def test_every_rule_of_the_contract_has_a_case(feeds: dict[str, Feed]) -> None:
    """Validate knows every data test the marts use; a new kind of test must get a check (and a case)."""
    assert sorted(feeds) == sorted(SPEC)
    for feed in feeds.values():
        assert feed.rules, feed.name
        for rule in _rules(feed):
            assert rule.test in set(CHECKED_TESTS) | NEEDS_OTHER_FILES, (
                f"{rule.name}: validate has no check for the {rule.test} test; map it in runner/validate.py"
            )
            if rule.test == "listrak_expression_is_true":
                assert rule.name in EXPRESSION_CASES, f"add a bad row for {rule.name} to EXPRESSION_CASES"
        assert any(rule.test == "email_format" and "pattern" in rule.arguments for rule in feed.rules) == (
            feed.name in ("orders", "customers")
        )


@pytest.mark.parametrize("container", ["csv", "xlsx"])
@pytest.mark.parametrize("name", sorted(SPEC))
def test_one_bad_value_per_rule_is_reported_with_row_column_and_rule(
    feeds: dict[str, Feed], tmp_path: Path, name: str, container: str
) -> None:
    feed = feeds[name]
    rows, expected = _bad_rows(feed)
    header = header_names(feed, FMT)
    if container == "csv":
        path = _write_csv(tmp_path / "bad.csv", header, rows)
    else:
        path = _write_xlsx(tmp_path / "bad.xlsx", header, rows, constant_memory=name != "products")
    problems = validate_file(path, feed, FMT, limit=10_000)
    found: dict[int, set[tuple[str, str]]] = {}
    for problem in problems:
        assert problem.row is not None and problem.column is not None, problem
        found.setdefault(problem.row, set()).add((problem.column, problem.rule))
    assert 1 not in found, found.get(1)  # the good row
    for row, wanted in expected.items():
        assert wanted <= found.get(row, set()), (row, rows[row - 1], wanted, found.get(row))
    assert set(found) == set(expected)
    rules = {rule for problem_set in expected.values() for _, rule in problem_set}
    assert {"type", "required", "max_length", "line_break", "unique"} <= rules


@pytest.mark.parametrize("container", ["csv", "xlsx"])
def test_our_own_export_round_trips_clean_and_a_bad_one_fails(
    feeds: dict[str, Feed], tmp_path: Path, container: str
) -> None:
    fmt = FeedFormat(format=container) if container == "xlsx" else FeedFormat(delimiter="\t", bom=True)
    for feed in feeds.values():
        good = [_good_row(feed, number) for number in (1, 2)]
        database = tmp_path / f"{feed.name}.duckdb"
        with duckdb.connect(str(database)) as connection:
            columns = ", ".join(f'"{column.name}" {column.data_type}' for column in feed.columns)
            connection.execute(f"create table mart ({columns})")
            for row in good:
                values = []
                for column in feed.columns:
                    value = row[column.name]
                    if column.kind == "boolean":
                        value = "true"
                    values.append(value)
                connection.execute(f"insert into mart values ({', '.join('?' for _ in values)})", values)
            marts = Feed(feed.name, feed.model, '"mart"', feed.file_name, feed.key, columns=feed.columns, rules=feed.rules)
            written = export_feed(connection, marts, fmt, tmp_path / "out", f"{feed.name}.{fmt.file_extension}")
            assert validate_file(written.path, feed, fmt) == [], feed.name
            # A value the contract refuses, written by the same writer, is found in the file.
            rule = _rules(feed, "listrak_accepted_range")[0]
            column, kind = rule.column or "", feed.columns[feed.column_names.index(rule.column or "")].kind
            bound = "min_value" if rule.arguments.get("min_value") is not None else "max_value"
            value = _beyond(rule.arguments[bound], kind, -1 if bound == "min_value" else 1, rule.arguments.get("inclusive", True))
            connection.execute(f'update mart set "{column}" = ? where rowid = 1', [value])
            written = export_feed(connection, marts, fmt, tmp_path / "out", f"{feed.name}.{fmt.file_extension}")
        found = {(p.row, p.column, p.rule) for p in validate_file(written.path, feed, fmt)}
        assert (2, column, "accepted_range") in found and {row for row, _, _ in found} == {2}, feed.name


def test_xlsx_with_shared_strings_gaps_and_numbers(feeds: dict[str, Feed], tmp_path: Path) -> None:
    feed = feeds["order_items"]
    header = header_names(feed, FMT)
    path = tmp_path / "items.xlsx"
    workbook = xlsxwriter.Workbook(str(path))  # not constant-memory: shared strings
    sheet = workbook.add_worksheet("items")
    for index, name in enumerate(header):
        sheet.write_string(0, index, name)
    good = _good_row(feed, 1)
    for row_index in (1, 3):  # sheet row 3 (data row 2) is left out: an empty row
        for index, name in enumerate(feed.column_names):
            kind = feed.columns[index].kind
            if kind in ("integer", "decimal"):
                sheet.write_number(row_index, index, float(good[name]) if kind == "decimal" else int(good[name]))
            else:
                sheet.write_string(row_index, index, good[name] if name != "Sku" else f"SKU-{row_index}")
    sheet.write_number(3, header.index("Quantity"), 0)
    sheet.write_number(3, header.index("Price"), 1e-7)  # written 1E-07: a plain decimal once read
    workbook.close()
    found = {(p.row, p.column, p.rule) for p in validate_file(path, feed, FMT)}
    assert (3, "Quantity", "accepted_range") in found
    assert (3, "Price", "type") not in found
    assert {row for row, _, _ in found} == {2, 3}  # row 2 is the empty sheet row: its required values
    assert (2, "OrderNumber", "required") in found


def test_xlsx_dates_typed_in_excel_are_read_as_dates(feeds: dict[str, Feed], tmp_path: Path) -> None:
    from datetime import datetime

    feed = feeds["orders"]
    header = header_names(feed, FMT)
    path = tmp_path / "orders.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = workbook.add_format({"num_format": "d mmm yyyy"})
    for index, name in enumerate(header):
        sheet.write_string(0, index, name)
    for row_index, number in ((1, 1), (2, 2)):
        for index, (name, value) in enumerate(_good_row(feed, number).items()):
            if name == "DateEntered":
                sheet.write_datetime(row_index, index, datetime(2024, 3, 5, 14, 7, 9), stamp)
            elif name == "ShipDate":
                sheet.write_datetime(row_index, index, datetime(2024, 3, 6), day)
            else:
                sheet.write_string(row_index, index, value)
    sheet.write_number(2, header.index("OrderTotal"), 45356.5, day)  # a date in a money column
    workbook.close()
    problems = validate_file(path, feed, FMT)
    assert [(p.row, p.column, p.rule) for p in problems] == [(2, "OrderTotal", "type")]
    assert "2024-03-05 12:00:00" in problems[0].message


def test_format_comes_from_the_file(feeds: dict[str, Feed], tmp_path: Path) -> None:
    feed = feeds["customers"]
    header = header_names(feed, FMT)
    row = [_good_row(feed, 1)[name] for name in feed.column_names]
    text = "\t".join(header) + "\r\n" + "\t".join(row) + "\r\n"
    utf16 = tmp_path / "customers.txt"
    utf16.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    result = validate(utf16, feed, FeedFormat(delimiter="|"))  # feeds.yml says pipe, UTF-8: the file wins
    assert result.problems == [] and result.detected == "txt, utf-16 with BOM, tab-delimited"
    xlsx_named_csv = _write_xlsx(tmp_path / "customers.csv", header, [row], constant_memory=True)
    result = validate(xlsx_named_csv, feed, FMT)
    assert result.problems == [] and result.detected == "xlsx"
    fake = tmp_path / "customers.xlsx"
    fake.write_text(",".join(header) + "\n", encoding="utf-8")
    assert [p.rule for p in validate_file(fake, feed, FMT)] == ["format"]


def test_utf16_without_bom_is_named_in_one_line(feeds: dict[str, Feed], tmp_path: Path) -> None:
    feed = feeds["customers"]
    text = ",".join(header_names(feed, FMT)) + "\n" + ",".join(_good_row(feed, 1).values()) + "\n"
    for codec, order in (("utf-16-le", "little"), ("utf-16-be", "big")):
        path = tmp_path / f"{codec}.csv"
        path.write_bytes(text.encode(codec))
        problems = validate_file(path, feed, FMT)
        assert [(p.row, p.rule) for p in problems] == [(None, "encoding")]
        assert "UTF-16" in problems[0].message and f"{order}-endian" in problems[0].message
        assert "without a byte-order mark" in problems[0].message and "\n" not in problems[0].message


def test_unbalanced_quote_is_reported_with_its_row_in_one_line(feeds: dict[str, Feed], tmp_path: Path) -> None:
    feed = feeds["customers"]
    header = header_names(feed, FMT)
    rows = [",".join(_good_row(feed, number).values()) for number in (1, 2, 3)]
    rows[1] = rows[1].replace("https://ex.co/2", '"https://ex.co/2', 1)  # opens, never closes
    path = tmp_path / "quote.csv"
    path.write_text("\n".join([",".join(header), *rows]) + "\n", encoding="utf-8")
    problems = validate_file(path, feed, FMT)
    assert [(p.row, p.rule) for p in problems] == [(2, "quoting")]
    assert "unbalanced quote" in problems[0].message and "\n" not in problems[0].message


def test_feed_is_inferred_from_the_file_name(feeds: dict[str, Feed], tmp_path: Path) -> None:
    declared = list(feeds.values())
    for name, (prefix, _) in SPEC.items():
        assert feed_for_file(Path(f"{prefix}20260115.csv"), declared).name == name
        assert feed_for_file(Path(f"/x/{prefix.lower()}2026-01-15.XLSX"), declared).name == name
    with pytest.raises(ConfigError, match="pass --feed"):
        feed_for_file(Path("orders.csv"), declared)


def test_cli_reports_the_issue_row_and_infers_the_feed(feeds: dict[str, Feed], tmp_path: Path) -> None:
    """The row of issue 10: Email bad@, Status 12, OrderTotal -5.00 was reported as meeting the contract."""
    workspace = Workspace(tmp_path / "ws", generate_data=False)
    feed = feeds["orders"]
    row = {**_good_row(feed, 1), "Email": "bad@", "Status": "12", "OrderTotal": "-5.00"}
    path = _write_csv(tmp_path / "Listrak_Order_Feed_20260115.csv", header_names(feed, FMT), [list(row.values())])
    result = workspace.feeds("validate", str(path), "--config", str(workspace.config), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["feed"] == "orders" and report["format"] == "csv, utf-8, comma-delimited"
    found = {(p["row"], p["column"], p["rule"]) for p in report["problems"]}
    assert found == {(1, "Email", "email_format"), (1, "Status", "accepted_values"), (1, "OrderTotal", "accepted_range")}

    table = workspace.feeds("validate", str(path), "--config", str(workspace.config))
    assert table.returncode == 1 and "email_format" in table.stdout and "-5.00" in table.stdout

    fixed = _write_csv(tmp_path / "Listrak_Order_Feed_20260116.csv", header_names(feed, FMT), [list(_good_row(feed, 1).values())])
    ok = workspace.feeds("validate", str(fixed), "--config", str(workspace.config))
    assert ok.returncode == 0 and "meets the orders feed contract" in ok.stdout, ok.stdout + ok.stderr

    items = workspace.feeds("validate", str(fixed), "--feed", "order_items", "--config", str(workspace.config), "--json")
    assert items.returncode == 1 and json.loads(items.stdout)["unchecked"], items.stdout  # relationships: not checked

    unknown_name = workspace.feeds("validate", str(_write_csv(tmp_path / "export.csv", ["a"], [])), "--config", str(workspace.config))
    assert unknown_name.returncode == 2 and "--feed" in unknown_name.stderr and "Traceback" not in unknown_name.stderr
    unknown_feed = workspace.feeds("validate", str(fixed), "--feed", "nope", "--config", str(workspace.config))
    assert unknown_feed.returncode == 2
    missing = workspace.feeds("validate", str(tmp_path / "nope.csv"), "--config", str(workspace.config))
    assert missing.returncode == 2
