"""The layering the conventions promise, checked on the imports: the CLI and the delivery of
existing files load neither DuckDB nor dbt (start-up time and memory of `feeds upload`, `--help`)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["runner.cli.app", "runner.cli.main", "runner.run.resend"])
def test_module_loads_neither_duckdb_nor_dbt(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('duckdb', 'dbt') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"{module} imports {loaded}"
