"""A destination is one module plus one registry line: a toy protocol registered by a test module
(tests/python/toy_destination.py) is validated by the configuration loader, gets its environment
variables and secret handling, and delivers a `feeds run`, with nothing in runner/ naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from runner.config import load_settings
from runner.deliver import make_destination, registry
from runner.errors import ConfigError
from workspace import REPO, Workspace, clean_environment

HERE = Path(__file__).resolve().parent


@pytest.fixture
def toy() -> Iterator[None]:
    import toy_destination

    registry.register(toy_destination.PROTOCOL)  # importing it registered it once; again after a previous test
    yield
    registry.unregister("toy")


def _config(tmp_path: Path, destination: str) -> Path:
    config = tmp_path / "feeds.yml"
    config.write_text(f"destination:\n{destination}", encoding="utf-8")
    return config


def test_its_settings_are_validated_by_its_own_model_and_its_variables_apply(toy: None, tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, "  type: toy\n  folder: box\n"), environ={"FEEDS_TOY_TOKEN": "t0k3n"})
    assert type(settings.destination).__name__ == "ToySettings"
    assert settings.destination.folder == Path("box") and settings.destination.token == "t0k3n"
    settings = load_settings(_config(tmp_path, "  type: toy\n  folder: box\n"), environ={"FEEDS_TOY_FOLDER": "other"})
    assert settings.destination.folder == Path("other")
    destination = make_destination(settings)
    assert destination.kind == "toy" and destination.describe() == f"toy box {tmp_path / 'other'}"


def test_its_errors_name_its_keys_and_variables(toy: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(_config(tmp_path, "  type: toy\n  foldr: box\n"), environ={})
    message = str(raised.value)
    assert "destination.foldr: unknown key; allowed here: folder, token, type, workers" in message
    assert "destination.folder: required (set it in the file or with FEEDS_TOY_FOLDER)" in message
    with pytest.raises(ConfigError) as raised:
        load_settings(_config(tmp_path, "  type: toy\n  folder: box\n  workers: many\n"), environ={})
    assert "destination.workers:" in str(raised.value)
    with pytest.raises(ConfigError, match=r"destination.type: must be ftp, local, sftp or toy \(got gopher\)"):
        load_settings(_config(tmp_path, "  type: gopher\n"), environ={})
    with pytest.raises(ConfigError, match="remove it and set the environment variable FEEDS_TOY_TOKEN instead"):
        load_settings(_config(tmp_path, "  type: toy\n  folder: box\n  token: s3cret\n"), environ={})


def test_a_secret_of_its_own_is_never_shown(toy: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(_config(tmp_path, "  type: toy\n  folder: box\n  workers: x\n"), environ={"FEEDS_TOY_TOKEN": "hunter2"})
    assert "hunter2" not in str(raised.value)


def test_feeds_run_delivers_through_it(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws", orders=60, seed=5)
    workspace.config.write_text(
        f"project_dir: {REPO}\nduckdb_path: feeds.duckdb\noutput_dir: out\nstate_dir: state\n"
        "destination:\n  type: toy\n  folder: box\n",
        encoding="utf-8",
    )
    # The `feeds` command with the toy module imported first: the plug-in a deployment would add.
    command = [sys.executable, "-c", "import toy_destination, runner.cli.main; runner.cli.main.entry()"]
    env = {**clean_environment(), "PYTHONPATH": str(HERE), "FEEDS_TOY_FOLDER": "crate"}
    result = subprocess.run(
        [*command, "run", "--config", str(workspace.config), "--json"], cwd=workspace.root, env=env,
        capture_output=True, text=True, timeout=600, check=False, input="",
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    assert run["destination"] == f"toy:toy box {workspace.root / 'crate'}"
    delivered = sorted(path.name for path in (workspace.root / "crate").iterdir())
    exported = sorted(path.name for path in (workspace.out / run["run_id"]).iterdir())
    assert len(delivered) == 4 and delivered == exported
    assert all(feed["status"] == "delivered" for feed in run["feeds"].values()), run["feeds"]
    assert not (workspace.root / "box").exists() and not workspace.delivered.exists()
