"""The warehouse seam: only runner/warehouse/ imports DuckDB, SQL is quoted in one place and that
quoting survives real DuckDB, and dbt gets the DuckDB path without the process environment changing."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import duckdb
import pytest

from runner.warehouse.sql import identifier, literal, relation

RUNNER = Path(__file__).resolve().parents[2] / "runner"
#: The one package that may import DuckDB.
ALLOWED_PACKAGES = {"warehouse"}


def _imports_duckdb(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "duckdb" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "duckdb":
            return True
    return False


def test_only_the_warehouse_package_imports_duckdb() -> None:
    offenders = [
        str(path.relative_to(RUNNER.parent))
        for path in sorted(RUNNER.rglob("*.py"))
        if path.relative_to(RUNNER).parts[0] not in ALLOWED_PACKAGES
        and _imports_duckdb(path)
    ]
    assert offenders == [], f"import duckdb outside runner/warehouse/: {offenders}; go through runner.warehouse"


def test_the_boundary_check_sees_every_form_of_import(tmp_path: Path) -> None:
    # The walk must catch an import inside a function and `from duckdb import ...`, not only the top line.
    for source in ("def f():\n    import duckdb\n", "from duckdb import connect\n", "import os, duckdb.typing\n"):
        module = tmp_path / "module.py"
        module.write_text(source)
        assert _imports_duckdb(module), source
    (tmp_path / "module.py").write_text("import duckdb_extension_x as y  # not duckdb\nfrom .duckdb import x\n")
    assert not _imports_duckdb(tmp_path / "module.py")


NAMES = ['plain', 'Mixed Case', 'with "quotes"', '""', 'a"b""c', "it's", "back\\slash", "Ünïcødé 名前 😀", "x; drop table t; --"]


@pytest.mark.parametrize("name", NAMES)
def test_an_identifier_names_exactly_that_column_and_table(name: str) -> None:
    with duckdb.connect() as connection:
        connection.execute(f"create schema {identifier(name)}")
        connection.execute(f"create table {relation(name, name)} ({identifier(name)} integer)")
        connection.execute(f"insert into {relation(name, name)} values (7)")
        cursor = connection.execute(f"select {identifier(name)} from {relation(name, name)}")
        assert [column[0] for column in cursor.description] == [name]
        assert cursor.fetchall() == [(7,)]
        tables = connection.execute("select table_schema, table_name from information_schema.tables").fetchall()
        assert tables == [(name, name)]


VALUES = ["", "plain", "it's", "''", "'; select 1; --", "back\\slash\\", "\\'", "tab\tand\nnewline\r\n", "Ünïcødé 名前 😀", '"double"']


@pytest.mark.parametrize("value", VALUES)
def test_a_literal_reads_back_as_the_same_string(value: str) -> None:
    with duckdb.connect() as connection:
        assert connection.execute(f"select {literal(value)}").fetchone() == (value,)
        # Also where parameters cannot go: an option of read_csv/COPY, e.g. a file name.
        assert connection.execute(f"select {literal(value)} = ?", [value]).fetchone() == (True,)


def test_a_none_literal_is_null() -> None:
    with duckdb.connect() as connection:
        assert connection.execute(f"select {literal(None)} is null").fetchone() == (True,)


def test_a_path_with_a_quote_is_written_and_read_by_copy(tmp_path: Path) -> None:
    target = tmp_path / "it's a \"file\".csv"
    column = identifier('Sku "x"')
    with duckdb.connect() as connection:
        connection.execute(f"copy (select 1 as {column}) to {literal(str(target))} (format csv, header true)")
        assert connection.execute(f"select * from read_csv({literal(str(target))})").description[0][0] == 'Sku "x"'
    assert target.read_text() == '"Sku ""x"""\n1\n'


def test_dbt_gets_the_duckdb_path_without_the_environment_changing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.build import DbtProject

    monkeypatch.delenv("FEEDS_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    database = tmp_path / "elsewhere.duckdb"
    duckdb.connect(str(database)).close()
    seen: set[str | None] = set()

    def on_node(name: str, resource_type: str, status: str) -> None:
        seen.add(os.environ.get("FEEDS_DUCKDB_PATH"))  # while dbt runs, in this process

    project = DbtProject(RUNNER.parent, database, log_dir=tmp_path / "logs")
    summary = project.build(["listrak_status_codes"], on_node=on_node)
    assert summary.success, summary.to_json()
    assert seen == {None}
    assert "FEEDS_DUCKDB_PATH" not in os.environ
    with duckdb.connect(str(database)) as connection:
        # The seed landed in the file passed to DbtProject, not in the profile's default feeds.duckdb.
        assert connection.execute("select count(*) from information_schema.tables where table_name = 'listrak_status_codes'").fetchone() == (1,)


def test_preview_orders_by_a_key_whose_name_holds_a_quote() -> None:
    # preview wrote its ORDER BY with unescaped quotes; every query now quotes through warehouse.sql.
    from runner.feed import Column, Feed
    from runner.warehouse import preview

    key = 'Order "No"'
    feed = Feed(name="orders", model="orders", relation="orders", file_name="Orders_{date}", key=(key,),
                columns=(Column(key, "varchar"),))
    with duckdb.connect() as connection:
        connection.execute(f"create table orders as select * from (values ('b'), ('a')) as t({identifier(key)})")
        assert preview(connection, feed, 5) == ([key], [("a",), ("b",)])
