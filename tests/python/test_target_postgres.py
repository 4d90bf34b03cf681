"""The project on a real PostgreSQL server (Debian's postgresql, started by the tests, password
authentication): `feeds build --target postgres` passes every model, seed, data test and unit
test; `feeds run --target postgres` writes the same four files, header and rows (row order is free
on a warehouse target: the lines are compared sorted), with the same run counts as the DuckDB golden
run (test_golden.GOLDEN, same seed, clock and --date); the delivery
state works there; demo data loads in bulk; connection problems are exit 2 naming the target.

One server and one build per session. Without PostgreSQL the tests skip, unless
FEEDS_REQUIRE_TARGETS is set (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_golden import AS_OF, DATE, GOLDEN, SORTED_LINES, same_rows_as_golden, sorted_lines_sha256
from warehouse_servers import PostgresServer, free_port, postgres_missing_reason, required
from workspace import REPO, Workspace, clean_environment

from runner.build import DbtProject
from runner.warehouse import target as targets
from runner.warehouse.demo import TABLES, generate
from runner.warehouse.queries import REJECTS_COLUMNS


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    reason = postgres_missing_reason()
    if reason:
        if required():
            pytest.fail(f"FEEDS_REQUIRE_TARGETS is set but PostgreSQL cannot run: {reason}")
        pytest.skip(reason)
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    try:
        server.start()
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        if required():
            pytest.fail(f"FEEDS_REQUIRE_TARGETS is set but PostgreSQL did not start: {detail}")
        pytest.skip(f"PostgreSQL did not start: {detail}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def golden_on_postgres(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The golden demo store (orders=600, seed=11, AS_OF) in PostgreSQL, built once with unit tests,
    and `feeds run --skip-build --date DATE` delivered from it."""
    space = Workspace(tmp_path_factory.mktemp("pg-golden"), generate_data=False)
    local = space.root / "demo.duckdb"
    generate(local, orders=600, seed=11, as_of=AS_OF)
    with environment(postgres.env()):
        targets.load_demo(targets.resolve(REPO, REPO / "profiles", "postgres"), local, "shopify", list(TABLES))
    built = space.feeds("build", "--target", "postgres", env=postgres.env())
    assert built.returncode == 0, built.stdout + built.stderr
    ran = space.feeds("run", "--skip-build", "--target", "postgres", "--date", DATE, "--json", env=postgres.env())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return space


def _records(space: Workspace) -> list[dict]:
    paths = sorted((space.root / "state" / "runs").glob("*.json"))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def test_build_on_postgres_passes_models_tests_and_unit_tests(golden_on_postgres: Workspace) -> None:
    (build,) = [record for record in _records(golden_on_postgres) if record["command"] == "build"]
    assert build["dbt"]["success"], build["dbt"]
    counts = build["dbt"]["counts"]
    # Every kind of node ran on PostgreSQL: models, seeds, data tests and unit tests.
    assert counts.get("pass", 0) + counts.get("success", 0) > 150, counts
    assert not counts.get("error") and not counts.get("fail"), counts


def test_postgres_writes_the_duckdb_rows_and_counts(golden_on_postgres: Workspace) -> None:
    (run,) = [record for record in _records(golden_on_postgres) if record["command"] == "run"]
    found = same_rows_as_golden(run)
    # Same header and rows (in any order), same size, same quarantine, exclusion and truncation counts as DuckDB.
    assert found == GOLDEN, json.dumps(found, indent=2, sort_keys=True)


def test_delta_state_works_on_postgres(golden_on_postgres: Workspace, postgres: PostgresServer) -> None:
    space = golden_on_postgres
    again = space.feeds("run", "--skip-build", "--target", "postgres", "--date", "2026-01-16", "--json",
                        env=postgres.env())
    assert again.returncode == 0, again.stdout + again.stderr
    feeds = json.loads(again.stdout)["run"]["feeds"]
    # Nothing changed since the first delivery: the delta feeds send no row, the full feed all.
    assert {name: feed["rows"] for name, feed in feeds.items()} == {
        "orders": 0, "order_items": 0, "customers": 0, "products": GOLDEN["products"]["rows"]}
    # The copy keeps the marts' built_at: no build since the delivery, so no delta row is hashed.
    assert {name: feed["fingerprinted_rows"] for name, feed in feeds.items() if feed["mode"] == "delta"} == {
        "orders": 0, "order_items": 0, "customers": 0}
    # The delivery state is local, beside the run records, not in the warehouse.
    assert (space.root / "state" / "state.duckdb").is_file()


def test_demo_data_loads_postgres_in_bulk(postgres: PostgresServer, tmp_path: Path) -> None:
    postgres.psql("create database demo_cli")
    env = {**postgres.env(), "PGDATABASE": "demo_cli"}
    space = Workspace(tmp_path / "demo", generate_data=False)
    loaded = space.feeds("demo-data", "--orders", "300", "--seed", "3", "--target", "postgres", env=env)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "target postgres" in loaded.stdout and "database demo_cli" in loaded.stdout
    rows = subprocess.run(["psql", "-At", "-c", 'select count(*) from shopify."order"'], env={**os.environ, **env},
                          capture_output=True, text=True, check=True).stdout.strip()
    assert rows == "300"
    # Loaded with COPY, not row by row: PostgreSQL's statistics count no single-row inserts.
    inserts = subprocess.run(
        ["psql", "-At", "-c", "select coalesce(sum(n_tup_ins), 0) from pg_stat_user_tables where schemaname = 'shopify'"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout.strip()
    assert int(inserts) > 300


def test_connection_problems_name_target_host_and_database(postgres: PostgresServer, tmp_path: Path) -> None:
    space = Workspace(tmp_path / "errors", generate_data=False)
    wrong_password = {**postgres.env(), "PGPASSWORD": "not-the-password-42"}
    result = space.feeds("build", "--target", "postgres", env=wrong_password)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"target postgres (postgres at 127.0.0.1:{postgres.port}, database feeds)" in output, output
    assert "password authentication failed" in output
    assert "not-the-password-42" not in output and "Traceback" not in output

    unreachable = {**postgres.env(), "PGPORT": str(free_port())}
    result = space.feeds("export", "--target", "postgres", env=unreachable)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "cannot connect to target postgres" in output and "database feeds" in output, output
    assert "Traceback" not in output


def test_missing_schema_and_missing_marts_are_named(postgres: PostgresServer, tmp_path: Path) -> None:
    postgres.psql("create database empty_store")
    env = {**postgres.env(), "PGDATABASE": "empty_store"}
    space = Workspace(tmp_path / "empty", generate_data=False)
    built = space.feeds("build", "--target", "postgres", env=env)
    output = built.stdout + built.stderr
    assert built.returncode == 2, output
    assert "database empty_store" in output and "schema 'shopify' (dbt var shopify_schema) has none" in output, output

    exported = space.feeds("export", "--target", "postgres", env=env)
    output = exported.stdout + exported.stderr
    assert exported.returncode == 2, output
    assert "listrak.listrak_orders" in output and "feeds build --target postgres" in output, output
    assert "Traceback" not in output


def test_check_connects_to_postgres_and_finds_the_marts(golden_on_postgres: Workspace, postgres: PostgresServer) -> None:
    checked = golden_on_postgres.feeds("check", "--no-destination", "--target", "postgres", env=postgres.env())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ok  target postgres (postgres at 127.0.0.1:{postgres.port}, database feeds): connected" in checked.stdout


def test_export_reads_postgres_without_dbt_and_only_the_rejects_columns_it_counts(
    golden_on_postgres: Workspace, postgres: PostgresServer
) -> None:
    space = golden_on_postgres
    # -X importtime lists every module the export imports: opening the connection must not pay
    # for dbt (about 2 s of every export).
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sys; from runner.cli.main import entry; sys.exit(entry())",
         "export", "--target", "postgres", "--date", DATE],
        cwd=space.root, env={**clean_environment(), **postgres.env()}, capture_output=True, text=True, timeout=300,
    )
    assert traced.returncode == 0, traced.stdout + traced.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines() if line.startswith("import time:")}
    assert "psycopg2" in imported and not any(name == "dbt" or name.startswith("dbt.") for name in imported)
    # The golden DuckDB files' header and rows (sorted lines), read through the parallel snapshot copy.
    newest = max((space.root / "out").iterdir())
    written = {path.name: sorted_lines_sha256(path) for path in newest.glob("*.csv")}
    assert written == {GOLDEN[name]["file"]: digest for name, digest in SORTED_LINES.items()}
    # Nothing of the copy is left on disk: it lived in memory (and its spill folder) for the run only.
    assert not any((space.root / "state" / "targets" / "postgres").iterdir())


def test_export_stages_only_the_feed_columns_and_the_rejects_columns_it_counts(
    golden_on_postgres: Workspace, postgres: PostgresServer, tmp_path: Path
) -> None:
    with environment(postgres.env()):
        target = targets.resolve(REPO, REPO / "profiles", "postgres")
        feeds = DbtProject(REPO, tmp_path / "unused.duckdb", target="postgres").feeds()
        with targets.stage_marts(target, feeds, tmp_path / "state") as staged:
            duck = staged.connection
            columns = dict(duck.execute(
                "select table_name, list(column_name order by column_index) from duckdb_columns() "
                "where schema_name = 'listrak' group by table_name").fetchall())
            # The marts' feed columns and built_at (not the rest of their internal bookkeeping), every row.
            for feed in feeds:
                _, name = targets.split_relation(feed.relation)
                assert columns[name] == [*(column.name for column in feed.columns), "built_at"], name
                (count,) = duck.execute(f"select count(*) from {feed.relation}").fetchone()
                assert count == GOLDEN[feed.name]["total_rows"], name
            # Of the rejects models only the columns the quarantine counts read were copied.
            rejects = [names for name, names in columns.items() if name.endswith("_rejects")]
            assert len(rejects) == 4 and all(names == list(REJECTS_COLUMNS) for names in rejects), columns


def test_a_table_copied_in_pieces_of_its_pages_arrives_whole_and_once(
    golden_on_postgres: Workspace, postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large table is copied in ranges of its pages (ctid), several at once into one DuckDB table:
    with pieces of one page each, every mart must still arrive with each of its rows exactly once,
    the same rows as copied whole. And an export of full files stages no built_at."""
    from runner.warehouse import postgres as pg

    with environment(postgres.env()):
        target = targets.resolve(REPO, REPO / "profiles", "postgres")
        feeds = DbtProject(REPO, tmp_path / "unused.duckdb", target="postgres").feeds()
        with targets.stage_marts(target, feeds, tmp_path / "whole") as whole:
            whole.connection.execute("attach ':memory:' as reference")
            for feed in feeds:
                _, name = targets.split_relation(feed.relation)
                whole.connection.execute(f"create table reference.{name} as select * exclude (built_at) from {feed.relation}")
            assert pg._pieces(100) == [""], "a table of fewer pages than CHUNK_PAGES goes whole"
            monkeypatch.setattr(pg, "CHUNK_PAGES", 1)
            pages = int(postgres.psql("select pg_relation_size('listrak.listrak_order_items') / 8192").strip())
            assert pages >= 3, pages  # so the mart really goes in pieces
            with targets.stage_marts(target, feeds, tmp_path / "pieces", built_at=False) as pieces:
                duck = pieces.connection
                for feed in feeds:
                    _, name = targets.split_relation(feed.relation)
                    columns = [row[0] for row in duck.execute(
                        f"select column_name from duckdb_columns() where table_name = '{name}' order by column_index").fetchall()]
                    assert columns == [column.name for column in feed.columns], name
                    rows = duck.execute(f"select * from {feed.relation}").fetchall()
                    expected = whole.connection.execute(f"select * from reference.{name}").fetchall()
                    assert len(rows) == GOLDEN[feed.name]["total_rows"], name
                    assert sorted(rows, key=repr) == sorted(expected, key=repr), name


def test_a_rebuild_cannot_swap_a_mart_while_its_copy_runs(
    golden_on_postgres: Workspace, postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy locks the marts (access share) before its snapshot and until it ends: dbt's swap of a
    rebuilt table (alter ... rename, drop) waits, so no piece of a copy reads another table."""
    import threading

    from runner.warehouse import postgres as pg

    started, release = threading.Event(), threading.Event()
    copy_one = pg._copy_one

    def held(*args: object) -> None:
        started.set()
        assert release.wait(60), "the test never let the copy go on"
        copy_one(*args)

    monkeypatch.setattr(pg, "_copy_one", held)
    with environment(postgres.env()):
        target = targets.resolve(REPO, REPO / "profiles", "postgres")
        feeds = DbtProject(REPO, tmp_path / "unused.duckdb", target="postgres").feeds()
        failures: list[BaseException] = []

        def stage() -> None:
            try:
                with targets.stage_marts(target, feeds, tmp_path / "state"):
                    pass
            except BaseException as exc:  # noqa: BLE001  reported below
                failures.append(exc)

        copying = threading.Thread(target=stage)
        copying.start()
        try:
            assert started.wait(60), failures
            swap = subprocess.run(
                ["psql", "-v", "ON_ERROR_STOP=1", "-c", "set lock_timeout = '500ms'",
                 "-c", "alter table listrak.listrak_orders rename to listrak_orders_swapped"],
                env={**os.environ, **postgres.env()}, capture_output=True, text=True, timeout=60,
            )
        finally:
            release.set()
            copying.join(120)
    assert swap.returncode != 0 and "lock timeout" in swap.stderr, swap.stdout + swap.stderr
    assert not failures, failures
    assert postgres.psql("select count(*) from pg_locks where locktype = 'relation' and mode = 'AccessShareLock' "
                         "and relation = 'listrak.listrak_orders'::regclass").strip() == "0"


def test_graphql_raw_tables_on_postgres_are_detected_there(postgres: PostgresServer, tmp_path: Path) -> None:
    postgres.psql("create database gql_store")
    env = {**postgres.env(), "PGDATABASE": "gql_store"}
    space = Workspace(tmp_path / "gql", generate_data=False)
    loaded = space.feeds("demo-data", "--orders", "200", "--seed", "5", "--api", "graphql", "--target", "postgres", env=env)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    # No DuckDB file here: the API shape can only come from the raw tables on PostgreSQL. Read as
    # REST, the GraphQL order table lacks required columns and the build stops.
    ran = space.feeds("run", "--target", "postgres", "--feeds", "orders", "--no-upload", "--date", DATE, "--json", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr[-3000:]
    assert json.loads(ran.stdout)["run"]["feeds"]["orders"]["rows"] > 0


def test_preview_reads_the_mart_on_postgres(golden_on_postgres: Workspace, postgres: PostgresServer, tmp_path: Path) -> None:
    shown = golden_on_postgres.feeds("preview", "orders", "--limit", "3", "--target", "postgres", env=postgres.env())
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "OrderNumber" in shown.stdout and "listrak_orders" in shown.stdout

    postgres.psql("create database no_marts")
    empty = Workspace(tmp_path / "nomarts", generate_data=False)
    missing = empty.feeds("preview", "orders", "--target", "postgres", env={**postgres.env(), "PGDATABASE": "no_marts"})
    output = missing.stdout + missing.stderr
    assert missing.returncode == 2, output
    assert "target postgres (postgres at 127.0.0.1" in output and "database no_marts" in output, output
    assert "listrak_orders" in output and "feeds build --target postgres" in output and "Traceback" not in output


def test_profile_settings_that_are_not_numbers_are_named(postgres: PostgresServer, tmp_path: Path) -> None:
    space = Workspace(tmp_path / "badport", generate_data=False)
    result = space.feeds("export", "--target", "postgres", env={**postgres.env(), "PGPORT": "fivefourthreetwo"})
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "dbt target 'postgres'" in output and "port 'fivefourthreetwo' is not a number" in output, output
    assert "Traceback" not in output and postgres.password not in output
