"""Every error becomes the README's exit code in one place (runner.cli.handler), for every command:
0 ok, 1 data/tests/export failed, 2 configuration, 3 delivery, 4 gate refused / lock / held file."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from runner import errors
from runner.cli.app import app
from runner.cli.handler import INTERRUPTED, FeedsGroup, remember_json
from workspace import feeds_command

#: The documented exit code of every error class runner.errors defines.
DOCUMENTED = {
    errors.FeedsError: 1,
    errors.ConfigError: 2,
    errors.DataTestsFailed: 1,
    errors.ExportError: 1,
    errors.ValidationFailed: 1,
    errors.DeliveryError: 3,
    errors.TransientDeliveryError: 3,
    errors.HostKeyError: 3,
    errors.AuthenticationError: 3,
    errors.CertificateError: 3,
    errors.GateRefused: 4,
    errors.RunLocked: 4,
}


def test_the_table_names_every_error_class() -> None:
    defined = {cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.FeedsError)}
    assert defined == set(DOCUMENTED), "a new error class needs its documented exit code here and in the README"


def _raising(error: BaseException) -> typer.Typer:
    """An app on the same handler as `feeds`, whose one command raises `error`."""
    probe = typer.Typer(cls=FeedsGroup, add_completion=False, pretty_exceptions_enable=False)

    @probe.command()
    def fails(as_json: bool = typer.Option(False, "--json", callback=remember_json)) -> None:
        raise error

    @probe.command()
    def other() -> None:  # two commands, so `fails` is a subcommand as in `feeds`
        """Unused."""

    return probe


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda cls: cls.__name__)
def test_each_error_maps_to_its_exit_code_through_the_handler(cls: type[errors.FeedsError]) -> None:
    result = CliRunner().invoke(_raising(cls("what went wrong, and what to do")), ["fails", "--json"])
    assert result.exit_code == DOCUMENTED[cls], result.output
    assert "error: what went wrong, and what to do" in result.stderr
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    assert document == {"ok": False, "exit_code": DOCUMENTED[cls], "error": "what went wrong, and what to do",
                        "error_type": cls.__name__}


def test_an_interrupt_is_130_without_a_traceback() -> None:
    result = CliRunner().invoke(_raising(KeyboardInterrupt()), ["fails"])
    assert result.exit_code == INTERRUPTED
    assert "interrupted" in result.stderr and "Traceback" not in result.output


#: Every command of `feeds`, with the arguments it needs to reach its configuration.
COMMANDS = {
    "run": ["--json"], "build": ["--json"], "export": ["--json"], "upload": ["--json"],
    "resend": ["20260101T000000Z-abcd", "--json"], "check": [], "preview": ["orders"],
    "validate": ["feeds.yml", "--json"], "history": ["--json"], "demo-data": [],
    "sample": ["--json"],
    "status": ["--json"], "report": [],
}


def test_the_table_lists_every_command() -> None:
    assert set(COMMANDS) == {command.name or command.callback.__name__ for command in app.registered_commands}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_reports_a_configuration_error_as_exit_2(command: str, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "feeds.yml").write_text("keep_runs: 0\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [command, *COMMANDS[command], "--config", "feeds.yml"])
    assert result.exit_code == 2, result.output
    assert "error: invalid configuration in feeds.yml" in result.stderr and "keep_runs" in result.stderr
    if "--json" in COMMANDS[command]:
        assert json.loads(result.stdout)["error_type"] == "ConfigError"
    assert list(tmp_path.iterdir()) == [tmp_path / "feeds.yml"], "a refused command must create nothing"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A configuration with a local destination and a file to upload; no DuckDB file (none is needed)."""
    (tmp_path / "feeds.yml").write_text(
        "duckdb_path: feeds.duckdb\nstate_dir: state\ndestination:\n  type: local\n  path: dest\n", encoding="utf-8"
    )
    (tmp_path / "Listrak_Order_Feed_20260101.csv").write_text("OrderNumber\n1\n", encoding="utf-8")
    return tmp_path


def feeds(folder: Path, *args: str):
    return feeds_command(*args, "--config", str(folder / "feeds.yml"), "--json")


def test_console_script_configuration_error_is_2(folder: Path) -> None:
    result = feeds(folder, "run", "--skip-build", "--date", "2026-13-01")
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["error_type"] == "ConfigError"
    assert "error: --date '2026-13-01' is not a date; use YYYY-MM-DD" in result.stderr


def test_console_script_gate_refusal_is_4_and_carries_the_run(folder: Path) -> None:
    file = folder / "Listrak_Order_Feed_20260101.csv"
    (folder / "dest").mkdir()
    (folder / "dest" / file.name).write_text("OrderNumber\n0\n", encoding="utf-8")  # still waiting there
    result = feeds(folder, "upload", str(file))
    assert result.returncode == 4, result.stderr
    document = json.loads(result.stdout)
    assert document["error_type"] == "GateRefused" and document["run"]["status"] == "failed"
    assert "still waiting" in result.stderr and "Traceback" not in result.stderr


def test_console_script_delivery_error_is_3_and_carries_the_run(folder: Path) -> None:
    (folder / "dest").write_text("a file where the destination folder should be\n", encoding="utf-8")
    result = feeds(folder, "upload", str(folder / "Listrak_Order_Feed_20260101.csv"))
    assert result.returncode == 3, result.stderr
    document = json.loads(result.stdout)
    assert document["error_type"] == "DeliveryError"
    assert document["run"]["feeds"]["Listrak_Order_Feed_20260101.csv"]["status"] == "failed"


@pytest.mark.parametrize(("limit", "code"), [("1MB", 2), ("4MB", 1)])
def test_duckdb_out_of_memory_says_which_setting_to_change(tmp_path: Path, limit: str, code: int) -> None:
    """DuckDB out of its memory cap: at 1MB the runner's own first query (exit 2, the setting is
    wrong), at 4MB dbt's models built side by side (exit 1, the build failed). Either way the message
    names the cap, with no traceback, and nothing is delivered; the dbt thread setting only for the
    build (the runner's own queries run one at a time)."""
    from workspace import Workspace

    space = Workspace(tmp_path / "ws")
    result = space.feeds("run", "--config", str(space.config), env={"FEEDS_DUCKDB_MEMORY_LIMIT": limit})
    assert result.returncode == code, result.stderr
    assert "Out of Memory Error" in result.stderr
    assert f"FEEDS_DUCKDB_MEMORY_LIMIT={limit}: raise it" in result.stderr
    assert ("FEEDS_DBT_THREADS=1" in result.stderr) == (code == 1)
    assert "Traceback" not in result.stderr
    assert space.files(space.delivered) == []
