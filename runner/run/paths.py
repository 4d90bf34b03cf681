"""Every configured path, resolved once. Light on purpose: `feeds upload` and `feeds resend` use it
and import neither DuckDB nor dbt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner.build import DbtProject
from runner.config import Settings
from runner.warehouse import target as targets


@dataclass(frozen=True)
class Paths:
    """Every configured path, absolute."""

    project_dir: Path
    duckdb: Path
    output_dir: Path
    state_dir: Path
    target: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> "Paths":
        return cls(
            project_dir=settings.resolve(settings.project_dir),
            duckdb=settings.resolve(settings.duckdb_path),
            output_dir=settings.resolve(settings.output_dir),
            state_dir=settings.resolve(settings.state_dir),
            target=settings.target,
        )

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.duckdb"

    def warehouse(self) -> targets.Target:
        """The dbt target of this run, with its engine (and a warehouse's credentials)."""
        return targets.resolve(self.project_dir, self.project_dir / "profiles", self.target)

    def dbt_project(self) -> DbtProject:
        return DbtProject(project_dir=self.project_dir, duckdb_path=self.duckdb, target=self.target,
                          log_dir=self.state_dir / "logs")
