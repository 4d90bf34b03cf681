"""A destination protocol written outside the package, for tests/python/test_destination_registry.py.

It is what adding a destination takes: one module (settings model, environment variables, secrets,
the Destination) and one `register` line. Nothing in runner.config, the CLI or the run names it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from runner.config import DestinationSettings
from runner.deliver import Delivered, Destination, Digest, Upload, part_name
from runner.deliver.registry import Protocol, register


class ToySettings(DestinationSettings):
    type: Literal["toy"] = "toy"
    folder: Path
    token: str | None = None
    workers: int = 2


class ToyDestination(Destination):
    kind = "toy"

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self.concurrency = workers

    def describe(self) -> str:
        return f"toy box {self.folder}"

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def deliver_one(self, upload: Upload, progress=None) -> Delivered:  # noqa: ANN001
        temporary = self.folder / part_name(upload.remote_name)
        shutil.copyfile(upload.local_path, temporary)
        os.replace(temporary, self.folder / upload.remote_name)
        digest = Digest(upload)
        digest.restart(upload.local_path, upload.local_path.stat().st_size)  # hash the whole file
        return Delivered(str(self.folder / upload.remote_name), digest.hexdigest())

    def exists(self, remote_name: str) -> bool:
        return (self.folder / remote_name).exists()

    def names(self) -> list[str]:
        return [path.name for path in self.folder.iterdir()] if self.folder.is_dir() else []


def _make(settings: ToySettings, base_dir: Path) -> ToyDestination:
    return ToyDestination(base_dir / settings.folder, settings.workers)


PROTOCOL = Protocol(
    "toy", ToySettings, _make, environment={"FEEDS_TOY_FOLDER": "folder", "FEEDS_TOY_TOKEN": "token"},
    secrets=("token",),
)

register(PROTOCOL)  # the one registry line
