"""Feed files, delivery state, run records, the lock and logs hold customer e-mails: owner-only whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from runner.deliver import Upload
from runner.deliver.local import LocalDestination, LocalDestinationSettings
from runner.errors import ConfigError
from workspace import FEEDS, Workspace, clean_environment


def _modes(*roots: Path) -> dict[str, str]:
    """Every file and folder under `roots` (the roots included) -> its permission bits, octal."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            found[str(path)] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_a_run_under_umask_022_leaves_every_file_0600_and_every_folder_0700(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, orders=200)
    result = subprocess.run(
        [str(FEEDS), "run", "--config", str(workspace.config)],
        cwd=tmp_path, env=clean_environment(), capture_output=True, text=True, timeout=600, check=False,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stderr
    state = tmp_path / "state"
    # What must be there, so the check below is not vacuous: files of each kind that hold e-mails.
    assert (state / "state.duckdb").is_file() and (state / "run.lock").is_file() and (state / "feeds.log").is_file()
    assert list((state / "runs").glob("*.json")) and list((state / "logs").glob("dbt.log*"))
    assert len(workspace.files(workspace.out)) == 4 and len(workspace.files(workspace.delivered)) == 4
    modes = _modes(workspace.out, state, workspace.delivered)
    files = {path: mode for path, mode in modes.items() if Path(path).is_file()}
    folders = {path: mode for path, mode in modes.items() if Path(path).is_dir()}
    assert {mode for mode in files.values()} == {"0o600"}, {p: m for p, m in files.items() if m != "0o600"}
    assert {mode for mode in folders.values()} == {"0o700"}, {p: m for p, m in folders.items() if m != "0o700"}


@pytest.mark.parametrize(("file_mode", "expected_file", "expected_folder"), [(None, 0o600, 0o700), ("0640", 0o640, 0o750)])
def test_local_delivery_sets_the_configured_mode_whatever_the_umask(
    tmp_path: Path, file_mode: str | None, expected_file: int, expected_folder: int
) -> None:
    settings = LocalDestinationSettings(**({"file_mode": file_mode} if file_mode else {}))
    source = tmp_path / "Listrak_Order_Feed_20260115.csv"
    source.write_text("Email\nsomeone@example.com\n", encoding="utf-8")
    destination = LocalDestination(tmp_path / "drop" / "listrak", file_mode=settings.mode)
    previous = os.umask(0)
    try:
        with destination:
            destination.deliver_one(Upload(source, source.name, None))
    finally:
        os.umask(previous)
    delivered = tmp_path / "drop" / "listrak" / source.name
    assert stat.S_IMODE(delivered.stat().st_mode) == expected_file
    for folder in (tmp_path / "drop", tmp_path / "drop" / "listrak"):
        assert stat.S_IMODE(folder.stat().st_mode) == expected_folder, folder


@pytest.mark.parametrize("file_mode", ["644x", "0999", "rw-r-----", "12345", 416, 640])
def test_file_mode_must_be_a_quoted_octal_mode(tmp_path: Path, file_mode: object) -> None:
    from runner.config import load_settings

    config = tmp_path / "feeds.yml"
    value = f'"{file_mode}"' if isinstance(file_mode, str) else str(file_mode)
    config.write_text(f"destination:\n  type: local\n  file_mode: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="destination.file_mode"):
        load_settings(config, environ={})
