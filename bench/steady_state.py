"""Steady-state cost of `feeds run`: what a scheduled run pays on a store where nothing changed.

It generates demo data (default 1M orders) into a fresh DuckDB file, runs `feeds run` once (the
first delivery: every row), then `--rounds` more runs on the unchanged store, and splits each of
those into:

    start-up     process start, Python and the runner's imports, configuration (spawn -> first log line);
                 `python -c "import runner.cli.main"` alone is shown beside it
    parse        dbt's imports, dbt parse (partial parse if kept), source checks and `dbt ls`
                 ([parse] -> [build] log lines); `python -c "import dbt.cli.main, ..."` shown beside it
    build        the in-process `dbt build`, split by node time (2 threads: node sums exceed wall):
                   models, data tests on the feed marts and rejects, other data tests
    fingerprint  quarantine counts, delivery-state fingerprints and the delta, gates
                   (end of dbt build -> [export] log line)
    export       the files' export (sum over feeds; deliveries overlap it)
    delivery     local delivery of the files (sum over feeds; overlaps export)
    rest         record writing, clean-up, interpreter exit

and says whether dbt kept its partial parse (target/partial_parse.msgpack) between the runs.
Figures are medians over the rounds.

    .venv/bin/python bench/steady_state.py                    # 1M orders, 3 steady rounds
    .venv/bin/python bench/steady_state.py --orders 20000 --rounds 1   # checks the script quickly
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# A sibling script, not a package: its directory on the path (as `python bench/x.py` has it).
sys.path.insert(0, str(ROOT / "bench"))
from incremental import age  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PARTS = ("start-up", "parse", "build", "fingerprint", "export", "delivery", "rest")


def _log_times(path: Path, after: float) -> dict[str, float]:
    """Epoch seconds of the first `[parse]`, `[build]` and `[export]` lines of feeds.log after `after`."""
    stages: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if stamp < after:
            continue
        for stage in ("parse", "build", "export"):
            if f" INFO [{stage}] " in line:
                stages.setdefault(stage, stamp)
    return stages


def _node_seconds(run_results: Path, mart_names: set[str]) -> dict[str, float]:
    """Execution seconds summed by kind: models (and seeds), tests on the marts and rejects, other tests."""
    sums = {"models": 0.0, "mart_tests": 0.0, "other_tests": 0.0}
    for result in json.loads(run_results.read_text())["results"]:
        unique_id, seconds = result["unique_id"], result.get("execution_time") or 0.0
        if not unique_id.startswith("test."):
            sums["models"] += seconds
        elif any(name in unique_id for name in mart_names):
            sums["mart_tests"] += seconds
        else:
            sums["other_tests"] += seconds
    return {key: round(value, 2) for key, value in sums.items()}


class SteadyState:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.config = work / "feeds.yml"
        self.state = work / "state"
        self.config.write_text(
            f"project_dir: {ROOT}\n"
            f"duckdb_path: {work / 'bench.duckdb'}\n"
            f"output_dir: {work / 'out'}\n"
            f"state_dir: {self.state}\n"
            "keep_runs: 2\n"
            "destination:\n"
            "  type: local\n"
            f"  path: {work / 'delivered'}\n"
        )
        self.env = {**os.environ, "DBT_TARGET_PATH": str(work / "target"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        for key in [key for key in self.env if key.startswith("FEEDS_")]:
            del self.env[key]

    def command(self, *args: str, log: str) -> tuple[float, float, str]:
        """Run one command; (start epoch, wall seconds, stdout)."""
        started_at, started = time.time(), time.perf_counter()
        result = subprocess.run(list(args), cwd=self.work, env=self.env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        (self.work / f"{log}.err").write_text(result.stderr)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
        return started_at, seconds, result.stdout

    def feeds(self, *args: str, log: str) -> tuple[float, float, str]:
        return self.command(str(VENV_BIN / "feeds"), *args, "--config", str(self.config), log=log)

    def imports(self, modules: str) -> float:
        _, seconds, _ = self.command(sys.executable, "-c", f"import {modules}", log="imports")
        return seconds

    def steady_run(self, index: int) -> dict[str, Any]:
        dbt_log = self.state / "logs" / "dbt.log"
        dbt_log_before = dbt_log.stat().st_size if dbt_log.exists() else 0
        # Listrak has picked the last files up: a file still waiting would be carried again.
        shutil.rmtree(self.work / "delivered", ignore_errors=True)
        started_at, wall, stdout = self.feeds("run", "--json", log=f"run-{index}")
        record = json.loads(stdout[stdout.index("{"):])["run"]
        stages = _log_times(self.state / "feeds.log", started_at)
        dbt_seconds = record["dbt"]["seconds"]
        feeds = record["feeds"].values()
        export = sum(feed.get("export_seconds") or 0 for feed in feeds)
        delivery = sum(feed.get("delivery_seconds") or 0 for feed in feeds)
        with open(dbt_log, encoding="utf-8", errors="replace") as handle:
            handle.seek(dbt_log_before)
            reparsed = [line.split("because", 1)[1].strip() for line in handle if "Unable to do partial parsing" in line]
        marts = {"listrak_orders", "listrak_order_items", "listrak_customers", "listrak_products", "rejects"}
        parts = {
            "start-up": stages["parse"] - started_at,
            "parse": stages["build"] - stages["parse"],
            "build": dbt_seconds,
            "fingerprint": stages["export"] - (stages["build"] + dbt_seconds),
            "export": export,
            "delivery": delivery,
        }
        # Export and delivery overlap: the rest is the wall time after the last of them.
        parts["rest"] = wall - (stages["export"] - started_at) - export
        return {
            "wall": wall,
            "parts": {name: round(value, 2) for name, value in parts.items()},
            "nodes": _node_seconds(self.work / "target" / "run_results.json", marts),
            "rows_sent": {name: feed.get("rows") for name, feed in record["feeds"].items()},
            "partial_parse_lost": sorted(set(reparsed)),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="demo orders (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="steady runs after the first (default 3); medians")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new one under /tmp, removed)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="feeds-steady-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = SteadyState(work)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        log(f"scratch {work}: demo-data --orders {args.orders:,}")
        bench.feeds("demo-data", "--orders", str(args.orders), log="demo")
        # As after a real initial sync: otherwise every row is inside the lookback window and each
        # "unchanged" run is rebuilt whole (see bench/incremental.py, age()).
        age(work / "bench.duckdb")
        _, first, _ = bench.feeds("run", "--json", log="run-0")
        log(f"first run (every row): {first:.1f} s")
        rounds = []
        for index in range(1, args.rounds + 1):
            rounds.append(bench.steady_run(index))
            log(f"steady run {index}: {rounds[-1]['wall']:.1f} s {rounds[-1]['parts']}")
        imports = statistics.median(bench.imports("runner.cli.main") for _ in range(3))
        dbt_imports = statistics.median(bench.imports("dbt.cli.main, dbt.adapters.duckdb") for _ in range(3))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    def median(pick: Any) -> float:
        return round(statistics.median(pick(result) for result in rounds), 2)

    summary = {
        "orders": args.orders,
        "rounds": len(rounds),
        "first_run_seconds": round(first, 2),
        "steady_run_seconds": median(lambda result: result["wall"]),
        "parts": {name: median(lambda result, name=name: result["parts"][name]) for name in PARTS},
        "imports_seconds": round(imports, 2),
        "dbt_imports_seconds": round(dbt_imports, 2),
        "node_seconds": {key: median(lambda result, key=key: result["nodes"][key]) for key in rounds[0]["nodes"]},
        "rows_sent": rounds[-1]["rows_sent"],
        "partial_parse_lost": sorted({reason for result in rounds for reason in result["partial_parse_lost"]}),
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
    }
    total = summary["steady_run_seconds"]
    print(f"feeds run on an unchanged store, {args.orders:,} orders, median of {len(rounds)} runs: {total:.1f} s "
          f"(first run {first:.1f} s)")
    for name in PARTS:
        note = {"export": "  (overlaps delivery)", "delivery": "  (overlaps export)"}.get(name, "")
        print(f"  {name:<12} {summary['parts'][name]:7.2f} s{note}")
    print(f"  of start-up, Python + the runner's imports alone: {summary['imports_seconds']:.2f} s; "
          f"of parse, Python + dbt's imports alone: {summary['dbt_imports_seconds']:.2f} s")
    nodes = summary["node_seconds"]
    print(f"  dbt node time (2 threads): models {nodes['models']:.1f} s, tests on marts/rejects "
          f"{nodes['mart_tests']:.1f} s, other tests {nodes['other_tests']:.1f} s")
    print(f"  rows sent: {summary['rows_sent']}")
    lost = summary["partial_parse_lost"]
    print("  dbt partial parse: " + ("kept between runs" if not lost else "LOST: " + "; ".join(lost)))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
