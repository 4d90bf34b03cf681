"""Warehouse target errors that need no running server: a PostgreSQL nobody listens on, and a Spark
cluster method whose driver is not installed. Each is exit 2 with a message naming the target (and
for PostgreSQL host and database), no traceback, no password."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse_servers import free_port
from workspace import Workspace

PASSWORD = "never-printed-7Q"


def test_unreachable_postgres_names_target_host_and_database(tmp_path: Path) -> None:
    space = Workspace(tmp_path / "nowhere", generate_data=False)
    port = free_port()
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "feeds", "PGPASSWORD": PASSWORD,
           "PGDATABASE": "nowhere", "PGSSLMODE": "disable"}
    for command in (["demo-data", "--orders", "10"], ["preview", "orders"], ["check", "--no-destination"]):
        result = space.feeds(*command, "--target", "postgres", env=env)
        output = result.stdout + result.stderr
        assert result.returncode == 2, (command, output)
        assert f"cannot connect to target postgres (postgres at 127.0.0.1:{port}, database nowhere)" in output, output
        assert PASSWORD not in output and "Traceback" not in output


def test_spark_cluster_method_without_its_driver_says_what_to_install(tmp_path: Path) -> None:
    space = Workspace(tmp_path / "thrift", generate_data=False)
    result = space.feeds("export", "--target", "spark", env={"FEEDS_SPARK_METHOD": "thrift", "FEEDS_SPARK_HOST": "127.0.0.1"})
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    # dbt's own reason, not its bare "Runtime Error" heading.
    assert "dbt target 'spark'" in output and "pip install dbt-spark[PyHive]" in output, output
    assert "Traceback" not in output


def test_a_profile_value_that_is_not_valid_jinja_is_named_without_showing_it() -> None:
    # A literal password with braces in profiles.yml: the error says where, never the value.
    from runner.errors import ConfigError
    from runner.warehouse.target import _render

    with pytest.raises(ConfigError) as raised:
        _render({"password": "s3cr{{et"}, "target postgres")
    assert "s3cr" not in str(raised.value) and "target postgres" in str(raised.value)


@pytest.mark.parametrize(("variable", "target"), [("FEEDS_DBT_THREADS", None), ("FEEDS_SPARK_THREADS", "spark")])
def test_a_thread_count_that_is_not_a_number_is_named(tmp_path: Path, variable: str, target: str | None) -> None:
    # profiles.yml reads the thread counts from the environment; dbt's reason sits under two bare
    # headings ("Runtime Error", "Compilation Error"), and the message must reach the variable.
    space = Workspace(tmp_path / "threads", orders=20, seed=3)
    result = space.feeds("build", *(["--target", target] if target else []), env={variable: "several"})
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert variable in output and "'several'" in output, output
    assert "Traceback" not in output


def test_a_thread_count_that_is_not_a_number_is_named_where_the_target_is_resolved(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other way a warehouse's settings are read: a command that finds a fresh manifest resolves
    # the target (its credentials rendered as dbt renders them) without a dbt parse.
    variable, target = "FEEDS_SPARK_THREADS", "spark"
    from runner.errors import ConfigError
    from runner.warehouse.target import resolve

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.setenv(variable, "several")
    with pytest.raises(ConfigError) as raised:
        resolve(repo, repo / "profiles", target)
    assert variable in str(raised.value) and "'several'" in str(raised.value), str(raised.value)
