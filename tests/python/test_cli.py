"""`feeds` end to end through its console script: real demo data, real dbt build, real DuckDB."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from workspace import MARTS, REPO, SPEC, Workspace, feeds_command, today_in_feed_zone

@pytest.fixture(scope="module")
def happy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, subprocess.CompletedProcess[str]]:
    workspace = Workspace(tmp_path_factory.mktemp("happy"))
    result = workspace.feeds("run", "--config", str(workspace.config), "--json")
    return workspace, result


def test_run_delivers_four_spec_files(happy) -> None:
    workspace, result = happy
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    delivered = {path.name: path for path in workspace.files(workspace.delivered)}
    day = today_in_feed_zone()
    assert sorted(delivered) == sorted(f"{prefix}{day}.csv" for prefix, _ in SPEC.values())
    for feed, (prefix, header) in SPEC.items():
        path = delivered[f"{prefix}{day}.csv"]
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == header, feed
        mart_rows = workspace.sql(f"select count(*) from main.{MARTS[feed]}")[0][0]
        assert len(rows) - 1 == mart_rows > 0, feed
        assert not any("\n" in value or "\r" in value for row in rows for value in row), feed
        assert all(len(row) == len(header) for row in rows), feed
        with duckdb.connect() as connection:
            relation = connection.read_csv(str(path), header=True, all_varchar=True)
            assert relation.columns == header
            assert connection.execute(f"select count(*) from read_csv('{path}', header=true, all_varchar=true)").fetchone()[0] == mart_rows
        record = summary["run"]["feeds"][feed]
        assert record["rows"] == mart_rows
        assert record["remote_path"] == str(path)
        assert record["status"] == "delivered"
        assert len(record["sha256"]) == 64


def test_run_exits_with_the_duckdb_file_closed_and_nothing_on_stderr_but_warnings(happy) -> None:
    # `feeds` exits without interpreter teardown: the database must already be checkpointed and
    # closed (no WAL left behind), and exit handlers must have run (no leaked-resource warnings).
    workspace, result = happy
    assert result.returncode == 0, result.stderr
    assert workspace.duckdb.is_file() and not Path(f"{workspace.duckdb}.wal").exists()
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines() if line.strip()), result.stderr


def test_history_lists_the_run(happy) -> None:
    workspace, result = happy
    run_id = json.loads(result.stdout)["run"]["run_id"]
    history = workspace.feeds("history", "--config", str(workspace.config), "--json")
    assert history.returncode == 0, history.stderr
    runs = json.loads(history.stdout)
    assert runs[0]["run_id"] == run_id and runs[0]["status"] == "success"
    table = workspace.feeds("history", "--config", str(workspace.config))
    assert run_id in table.stdout


def test_validate_accepts_our_own_file(happy) -> None:
    workspace, _ = happy
    orders = next(path for path in workspace.files(workspace.delivered) if path.name.startswith("Listrak_Order_Feed_"))
    result = workspace.feeds("validate", str(orders), "--feed", "orders", "--config", str(workspace.config))
    assert result.returncode == 0, result.stdout + result.stderr
    # Every delivered file meets every rule of its mart's contract; the feed is found from the name.
    for path in workspace.files(workspace.delivered):
        result = workspace.feeds("validate", str(path), "--config", str(workspace.config))
        assert result.returncode == 0, result.stdout + result.stderr


def test_duplicate_sku_is_quarantined_and_reported(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, seed=12)
    (first, second) = workspace.sql("select id, sku from shopify.product_variant order by id limit 2")
    workspace.sql(f"update shopify.product_variant set sku = '{first[1]}' where id = {second[0]}")
    result = workspace.feeds("run", "--config", str(workspace.config), "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    rejects = run["feeds"]["products"]["rejects"]
    assert sum(count for reason, count in rejects.items() if "duplicate" in reason) == 2, rejects
    assert "quarantined" in result.stderr
    products = next(path for path in workspace.files(workspace.delivered) if path.name.startswith("Listrak_Product_Feed_"))
    with open(products, newline="", encoding="utf-8") as handle:
        skus = [row["Sku"] for row in csv.DictReader(handle)]
    assert first[1] not in skus
    assert len(workspace.files(workspace.delivered)) == 4
    # The run record on disk says the same.
    record = json.loads(next((tmp_path / "state" / "runs").glob("*.json")).read_text())
    assert record["feeds"]["products"]["rejects"] == rejects


def test_mostly_malformed_emails_fail_the_run_and_export_nothing(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, seed=13)
    workspace.sql("update shopify.customer set email = 'broken-address-' || id where id % 5 <> 0")
    workspace.sql("""update shopify."order" set email = 'no-at-sign.example.com' where email is not null and id % 5 <> 0""")
    result = workspace.feeds("run", "--config", str(workspace.config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dbt build failed" in result.stderr
    assert "FAIL" in result.stderr and "email" in result.stderr.lower()
    assert workspace.files(workspace.out) == []
    assert workspace.files(workspace.delivered) == []
    record = json.loads(next((tmp_path / "state" / "runs").glob("*.json")).read_text())
    assert record["status"] == "failed" and record["dbt"]["failures"]


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("defaults:\n  delimitr: ','\n", ["defaults.delimitr", "unknown key", "delimiter"]),
        ("feeds:\n  orders:\n    delimiter: ';'\n", ["feeds.orders.delimiter", "'|'"]),
        ("gates:\n  max_shrink: 2\n", ["gates.max_shrink", "less than or equal to 1"]),
        ("timezone: Mars/Olympus\n", ["timezone", "IANA"]),
        ("destination:\n  type: sftp\n  host: h\n  username: u\n  password: x\n", ["destination.password", "FEEDS_SFTP_PASSWORD"]),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, yaml: str, expected: list[str]) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(f"project_dir: {REPO}\n{yaml}", encoding="utf-8")
    result = feeds_command("run", "--config", str(config))
    assert result.returncode == 2
    for text in expected:
        assert text in result.stderr, text
    assert "Traceback" not in result.stderr


def test_missing_sftp_user_exits_2_naming_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(f"project_dir: {REPO}\n", encoding="utf-8")
    result = feeds_command("upload", "--config", str(config),
                           env={"FEEDS_SFTP_HOST": "127.0.0.1", "FEEDS_SFTP_PASSWORD": "do-not-print-me"})
    assert result.returncode == 2
    assert "FEEDS_SFTP_USER" in result.stderr
    assert "do-not-print-me" not in result.stderr + result.stdout


def test_unknown_feed_exits_2(happy) -> None:
    workspace, _ = happy
    result = workspace.feeds("run", "--config", str(workspace.config), "--feeds", "orderz", "--skip-build", "--no-upload")
    assert result.returncode == 2
    assert "orderz" in result.stderr and "orders" in result.stderr


def test_missing_duckdb_file_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(f"project_dir: {REPO}\nduckdb_path: absent.duckdb\nstate_dir: state\n", encoding="utf-8")
    result = feeds_command("run", "--config", str(config))
    assert result.returncode == 2
    assert "absent.duckdb does not exist" in result.stderr and "feeds demo-data" in result.stderr
    assert not (tmp_path / "absent.duckdb").exists()


# Runs again in the happy workspace, so it comes after the tests that read that workspace's one run.
def test_runs_skip_dbt_unit_tests_unless_asked(happy) -> None:
    workspace, result = happy
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)["run"]["dbt"]["resource_types"]
    assert ran["model"] > 0 and ran["test"] > 0 and "unit_test" not in ran
    with_unit_tests = workspace.feeds(
        "run", "--config", str(workspace.config), "--unit-tests", "--no-upload", "--json"
    )
    assert with_unit_tests.returncode == 0, with_unit_tests.stderr
    run = json.loads(with_unit_tests.stdout)["run"]
    assert run["options"]["unit_tests"] is True
    assert run["dbt"]["resource_types"]["unit_test"] >= 20  # one per status branch and more
    assert {key: run["dbt"]["resource_types"][key] for key in ran} == ran
