"""Every format setting is checked when the configuration loads: exit 2 naming the key, nothing built.

The file-name date (top-level date_format) is formatted by Python's strftime on the run date; the
column formats (timestamp_format, date_format in defaults: or per feed) by DuckDB's strftime, and
read back by `feeds validate` with DuckDB's strptime. Each is checked the way it is used.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from runner.config import FeedFormat, load_settings
from runner.errors import ConfigError
from runner.feed_file import file_name
from runner.feed import Feed
from workspace import REPO, Workspace, feeds_command

# (where the key sits, its dotted name) for every format key.
COLUMN_FORMAT_KEYS = [
    (("defaults", "timestamp_format"), "defaults.timestamp_format"),
    (("defaults", "date_format"), "defaults.date_format"),
    (("feeds", "orders", "timestamp_format"), "feeds.orders.timestamp_format"),
    (("feeds", "customers", "date_format"), "feeds.customers.date_format"),
]
BAD_COLUMN_FORMATS = {
    "%Q": "strftime refuses",  # unknown directive
    "%Y-%m-%": "strftime refuses",  # a lone % at the end
    "no directive": "same",  # every value written the same
    "%%": "same",
    "%Z": "same",  # DuckDB writes '' for a zone-less timestamp
    "%Y\n%m": "line break",
}
BAD_NAME_DATE_FORMATS = {
    "%Y/%m/%d": "'/'",  # a slash in a file name
    "%Y\\%m": "'\\\\'",
    "%Q": "not a date directive",  # glibc would write it as is: Listrak_Order_Feed_%Q.csv
    "%H%M": "not a date directive",  # {date} is a date: always 0000
    "%Y%": "lone %",
    "daily": "same text for every date",
}


def _document(path: tuple[str, ...], value: str) -> dict:
    document: dict = {}
    node = document
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return document


def _cases() -> list:
    cases = [
        pytest.param(("date_format",), "date_format", value, expected, id=f"date_format={value!r}")
        for value, expected in BAD_NAME_DATE_FORMATS.items()
    ]
    for path, key in COLUMN_FORMAT_KEYS:
        cases += [
            pytest.param(path, key, value, expected, id=f"{key}={value!r}") for value, expected in BAD_COLUMN_FORMATS.items()
        ]
    return cases


@pytest.mark.parametrize(("path", "key", "value", "expected"), _cases())
def test_a_bad_format_is_a_config_error_naming_the_key(
    tmp_path: Path, path: tuple[str, ...], key: str, value: str, expected: str
) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(yaml.safe_dump(_document(path, value)), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config, environ={})
    line = next((line for line in str(raised.value).splitlines() if line.startswith(f"  {key}:")), None)
    assert line is not None and expected in line, str(raised.value)


@pytest.mark.parametrize(
    "document",
    [
        {"date_format": "%Y-%m-%d"},
        {"date_format": "%d%b%Y_%%"},
        {"date_format": "%-d.%-m.%Y"},
        {"defaults": {"timestamp_format": "%d/%m/%Y %-H:%M"}},  # a slash is fine inside a value
        {"defaults": {"date_format": "%m/%d/%Y"}},
        {"feeds": {"orders": {"timestamp_format": "%Y-%m-%dT%H:%M:%S.%f"}}},
        {"feeds": {"orders": {"file_name": "Orders.csv"}}},
    ],
)
def test_good_formats_are_accepted(tmp_path: Path, document: dict) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    load_settings(config, environ={})


@pytest.mark.parametrize("name", ["", "  ", "out/Orders_{date}", "..\\Orders", ".Orders_{date}", "Orders\n{date}"])
def test_a_file_name_that_is_not_a_plain_name_is_a_config_error(tmp_path: Path, name: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(yaml.safe_dump({"feeds": {"orders": {"file_name": name}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="feeds.orders.file_name: must be a plain file name"):
        load_settings(config, environ={})


@pytest.mark.parametrize(
    ("template", "fmt", "expected"),
    [
        ("Orders.csv", FeedFormat(), "Orders.csv"),
        ("Orders_{date}.CSV", FeedFormat(), "Orders_20260115.CSV"),
        ("Orders_{date}.txt", FeedFormat(extension="txt"), "Orders_20260115.txt"),
        ("Orders_{date}", FeedFormat(), "Orders_20260115.csv"),
        ("Orders.csv", FeedFormat(format="xlsx"), "Orders.csv.xlsx"),
    ],
)
def test_a_file_name_already_ending_in_the_extension_gets_no_second_one(template: str, fmt: FeedFormat, expected: str) -> None:
    feed = Feed(name="orders", model="listrak_orders", relation="main.listrak_orders", file_name=template, key=("OrderNumber",))
    assert file_name(feed, fmt, date(2026, 1, 15), "%Y%m%d") == expected


@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Demo raw data, never built: a run that got past the configuration would build the marts."""
    return Workspace(tmp_path_factory.mktemp("unbuilt"), orders=30)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("date_format: '%Y/%m/%d'\n", "date_format"),
        ("date_format: '%Q'\n", "date_format"),
        ("defaults:\n  timestamp_format: '%Q'\n", "defaults.timestamp_format"),
        ("defaults:\n  date_format: '%Q'\n", "defaults.date_format"),
        ("feeds:\n  orders:\n    timestamp_format: 'at noon'\n", "feeds.orders.timestamp_format"),
        ("feeds:\n  products:\n    date_format: '%Q'\n", "feeds.products.date_format"),
    ],
)
def test_feeds_run_exits_2_and_builds_nothing(unbuilt: Workspace, tmp_path: Path, yaml_text: str, key: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(
        f"project_dir: {REPO}\nduckdb_path: {unbuilt.duckdb}\noutput_dir: out\nstate_dir: state\n"
        f"destination:\n  type: local\n  path: delivered\n{yaml_text}",
        encoding="utf-8",
    )
    result = feeds_command("run", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert f"  {key}: " in result.stderr and "Traceback" not in result.stderr
    assert not any((tmp_path / folder).exists() for folder in ("out", "state", "delivered"))
    with duckdb.connect(str(unbuilt.duckdb), read_only=True) as connection:
        marts = connection.execute("select table_name from duckdb_tables() where table_name like 'listrak_%'").fetchall()
    assert marts == []
