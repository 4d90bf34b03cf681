"""Warehouse targets benchmark: `dbt build` and `feeds export` on PostgreSQL and Spark, each against
the stock tool doing the same export in the same run.

For each size (orders) and target it loads the demo store (`feeds demo-data --target T`), then
measures, each as its own process (wall time and peak RSS of that process and its children, as
bench/run.py does; a PostgreSQL server's own memory is not in the figure):

    dbt_build   dbt build --target T (stock dbt CLI; models, seeds, data tests, unit tests)
    export      feeds export --target T --date D      (the four marts to dated files)
    reference   postgres: psql -c "\\copy (select * from <mart>) to '<mart>.csv' csv header", one per mart
                spark:    a Python process starting the same local session and running
                          spark.table(m).coalesce(1).write.csv(..., header=True) for each mart

and prints seconds, peak RSS and export / reference. wait4's peak RSS misses the JVM a Spark
process starts (not reaped by it) and the PostgreSQL server, so a sampler also records, every 0.1 s,
the summed PSS of this script's process tree (JVM included) and of the server's processes. The
sampler reads every process's page tables, and on two cores it slowed the CPU-bound export and not
psql, which waits on one server backend (PostgreSQL, 1M orders, three alternated rounds each way:
export/reference 1.50x sampled, 1.44x not, psql 5.27 s and 5.28 s). So the export and the
reference rounds are timed without it, and one more round of each, sampled, gives their memory
(its time is not counted). The dbt build, too long to run twice, is sampled while timed. The
PostgreSQL server is started by the tests' helper (tests/python/warehouse_servers.py): a temporary
cluster on a free loopback port.

    .venv/bin/python bench/warehouses.py --sizes 100000,1000000 --targets postgres,spark
    .venv/bin/python bench/warehouses.py --sizes 20000 --targets postgres      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

from run import MARTS, Measured, measure  # noqa: E402
from warehouse_servers import PostgresServer  # noqa: E402

DATE = "2026-01-14"

_SPARK_REFERENCE = """
import sys, time
from pyspark.sql import SparkSession
conf = dict(arg.split("=", 1) for arg in sys.argv[3:])
builder = SparkSession.builder.enableHiveSupport()
for key, value in conf.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
for mart in sys.argv[2].split(","):
    spark.table(mart).coalesce(1).write.mode("overwrite").csv(sys.argv[1] + "/" + mart, header=True)
"""


class TreePeak:
    """Peak summed PSS (MiB) of this process's descendants and of a server's process tree while open."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.tree_mib = 0.0
        self.server_mib = 0.0
        self._stop = threading.Event()

    @staticmethod
    def _pss(processes: list[Any]) -> float:
        total = 0
        for process in processes:
            try:
                total += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total / 2**20

    def _sample(self) -> None:
        me = psutil.Process()
        server = psutil.Process(self.server_pid) if self.server_pid else None
        while not self._stop.wait(0.1):
            try:
                self.tree_mib = max(self.tree_mib, self._pss(me.children(recursive=True)))
                if server is not None:
                    self.server_mib = max(self.server_mib, self._pss([server, *server.children(recursive=True)]))
            except psutil.NoSuchProcess:
                pass

    def __enter__(self) -> "TreePeak":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def sampled(peaks: dict[str, list[TreePeak]], name: str, server_pid: int | None, *args: Any) -> Measured:
    """measure() with a TreePeak around it, kept under `name`."""
    with TreePeak(server_pid) as peak:
        result = measure(*args)
    peaks.setdefault(name, []).append(peak)
    return result


def _env(extra: dict[str, str]) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("FEEDS_", "PG"))}
    return {**base, "PATH": f"{VENV_BIN}:{base.get('PATH', '')}", **extra}


def spark_conf(work: Path) -> dict[str, str]:
    return {"FEEDS_SPARK_WAREHOUSE": str(work / "spark-warehouse"), "FEEDS_SPARK_METASTORE": str(work / "metastore_db")}


def bench_target(target: str, orders: int, work: Path, server: PostgresServer | None, log: Any) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "feeds.yml").write_text(f"project_dir: {ROOT}\noutput_dir: out\nstate_dir: state\n", encoding="utf-8")
    extra = server.env() if server else spark_conf(work)
    env = _env(extra)
    logs = work / "logs"
    feeds = str(VENV_BIN / "feeds")
    if server:
        # A fresh warehouse for each size, as Spark's own folder per size is: the models of the
        # previous size would otherwise be incremental tables, and the stock `dbt build` below, which
        # has none of feeds' initial-sync check, would take the whole new store as changed rows (at
        # 1M after 100k, the order items mart was still running after 8 minutes; a fresh build of
        # every model takes under 3).
        server.psql("drop schema if exists listrak cascade")
    measure("demo_data", [feeds, "demo-data", "--orders", str(orders), "--seed", "7", "--target", target], env, logs, work)
    figures: dict[str, Measured] = {}
    peaks: dict[str, list[TreePeak]] = {}
    server_pid = int((server.data / "cluster" / "postmaster.pid").read_text().split()[0]) if server else None
    figures["dbt_build"] = sampled(peaks, "dbt_build", server_pid,
        "dbt_build", [str(VENV_BIN / "dbt"), "build", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT / "profiles"),
                      "--target", target, "--target-path", str(ROOT / "target" / target), "--log-path", str(logs)],
        env, logs, work)
    # Written where `feeds --target T` reads its manifest, so the export does not parse the project again.
    if server:
        # The store settled, as a warehouse between two scheduled runs is: without this, autovacuum
        # works through the tables the build has just written while the rounds run, on the same cores.
        server.psql("vacuum (analyze)")
    refs = work / "reference"
    if server:
        # One psql process, one -c per mart (\\copy takes the rest of its line).
        commands = [part for mart in MARTS.values()
                    for part in ("-c", f"\\copy (select * from listrak.{mart}) to '{refs / mart}.csv' csv header")]
        reference = ["psql", "-v", "ON_ERROR_STOP=1", *commands]
    else:
        from runner.warehouse import target as targets  # the profile's own session settings

        os.environ.update(extra)
        conf = targets.resolve(ROOT, ROOT / "profiles", "spark").credentials.server_side_parameters
        args = [f"{key}={value}" for key, value in conf.items()]
        marts = ",".join(f"listrak.{mart}" for mart in MARTS.values())
        reference = [sys.executable, "-c", _SPARK_REFERENCE, str(refs), marts, *args]
    export = [feeds, "export", "--target", target, "--date", DATE]
    exports = []
    references = []
    # Three timed rounds, alternated, then one sampled round of each for memory only (see above).
    for round_ in range(4):
        timed = round_ < 3
        shutil.rmtree(work / "out", ignore_errors=True)
        measured = (measure(f"export{round_}", export, env, logs, work) if timed
                    else sampled(peaks, "export", server_pid, "export_memory", export, env, logs, work))
        shutil.rmtree(refs, ignore_errors=True)
        refs.mkdir()
        referenced = (measure(f"reference{round_}", reference, env, logs, work) if timed
                      else sampled(peaks, "reference", server_pid, "reference_memory", reference, env, logs, work))
        if timed:
            exports.append(measured)
            references.append(referenced)
    figures["export"] = Measured.median(exports)
    figures["reference"] = Measured.median(references)
    ratio = figures["export"].seconds / figures["reference"].seconds
    memory = {name: {"tree_pss_mib": round(max(peak.tree_mib for peak in runs), 1),
                     **({"server_pss_mib": round(max(peak.server_mib for peak in runs), 1)} if server else {})}
              for name, runs in peaks.items()}
    build_memory = memory["dbt_build"]
    log(f"{target:8} {orders:>9,}  dbt build {figures['dbt_build'].seconds:7.1f}s ({figures['dbt_build'].max_rss_mib:.0f} MiB rss,"
        f" tree {build_memory['tree_pss_mib']:.0f} MiB, server {build_memory.get('server_pss_mib', 0):.0f} MiB pss)"
        f"  export {figures['export'].seconds:6.2f}s ({figures['export'].max_rss_mib:.0f} MiB)"
        f"  reference {figures['reference'].seconds:6.2f}s  export/reference {ratio:.2f}")
    return {"target": target, "orders": orders, "export_over_reference": round(ratio, 3),
            **{name: {**measured.to_json(), **memory.get(name, {})} for name, measured in figures.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--targets", default="postgres,spark")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "warehouses.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="feeds-wh-bench-") as scratch:
        root = Path(scratch)
        server = PostgresServer(root / "pg").start() if "postgres" in args.targets else None
        try:
            for orders in [int(size) for size in args.sizes.split(",")]:
                for target in args.targets.split(","):
                    results.append(bench_target(target, orders, root / f"{target}-{orders}",
                                                server if target == "postgres" else None, print))
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        finally:
            if server:
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
