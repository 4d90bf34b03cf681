"""End-to-end benchmark: every `feeds` stage at several sizes against a stock-tool reference pipeline.

For each size (orders) it generates demo data into a fresh DuckDB file and measures, each as its own
subprocess so that wall time and peak RSS (``os.wait4`` rusage ``ru_maxrss``) belong to one stage:

    demo_data   feeds demo-data --orders N
    dbt_build   dbt build (the stock dbt CLI: models, seeds, data tests and unit tests)
    export      feeds export            (the marts as built, no build, no delivery)
    upload      feeds upload FILES      (to a loopback OpenSSH sshd)
    run         feeds run               (dbt build + export + SFTP delivery)

and, on the same data, a reference pipeline made of stock tools doing the same job:

    ref_dbt_build   dbt build --exclude-resource-type unit_test (stock CLI; what `feeds run` builds
                    and tests: it skips unit tests, as dbt recommends for production)
    ref_copy        one DuckDB ``COPY (select * from <mart>) TO '<mart>.csv' (header)`` per mart
    ref_sftp        OpenSSH ``sftp -b`` putting the four files (same key and known_hosts)

`run/ref` compares `feeds run` with that reference; `run/stock` with the plain `dbt build` (unit
tests included) + COPY + sftp that a hand-made pipeline would run.

It prints a table of seconds, peak RSS and ratios, checks the targets of issue 6, writes the figures
as JSON (``docs/bench/results.json``) and draws time against size (``docs/bench/bench.png``).

    .venv/bin/python bench/run.py                        # 10k, 100k, 1M orders, 3 rounds (about 8-10 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick                # 2k, 20k orders, writes under /tmp: checks the script
    .venv/bin/python bench/run.py --sizes 50000 --out /tmp/b.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MIB = 1024 * 1024
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
#: The feed marts, in the order of the feeds; the reference pipeline copies each of them.
MARTS = {
    "orders": "listrak_orders",
    "order_items": "listrak_order_items",
    "customers": "listrak_customers",
    "products": "listrak_products",
}
STAGES = ("demo_data", "dbt_build", "export", "upload", "run")
REFERENCE = ("ref_dbt_build", "ref_copy", "ref_sftp")

# The reference export: plain COPY of each mart, in one DuckDB connection, timed inside too.
COPY_SCRIPT = """
import json, sys, time, duckdb
database, out_dir, marts = sys.argv[1], sys.argv[2], sys.argv[3:]
connection = duckdb.connect(database, read_only=True)
seconds = {}
for mart in marts:
    (schema,) = connection.execute(
        "select table_schema from information_schema.tables where table_name = ?", [mart]
    ).fetchone()
    started = time.perf_counter()
    connection.execute(f"copy (select * from \\"{schema}\\".\\"{mart}\\") to '{out_dir}/{mart}.csv' (header)")
    seconds[mart] = time.perf_counter() - started
print(json.dumps(seconds))
"""


def _import_sshd():
    """tests/python/sshd.py, imported by path (it is a test helper, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("feeds_bench_sshd", ROOT / "tests" / "python" / "sshd.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@dataclass
class Measured:
    """One subprocess: its wall time, peak RSS and output."""

    seconds: float
    max_rss_mib: float
    stdout: str
    #: Every round's seconds, when this is the median of several.
    rounds: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"seconds": round(self.seconds, 3), "max_rss_mib": round(self.max_rss_mib, 1)}
        if len(self.rounds) > 1:
            figures["rounds"] = [round(value, 3) for value in self.rounds]
        return figures

    @classmethod
    def median(cls, runs: list["Measured"]) -> "Measured":
        """Median seconds (the middle run's output), highest peak RSS, every run's seconds."""
        middle = sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]
        seconds = statistics.median(run.seconds for run in runs)
        return cls(seconds, max(run.max_rss_mib for run in runs), middle.stdout, tuple(run.seconds for run in runs))


class StageFailed(RuntimeError):
    pass


def measure(name: str, args: Sequence[str], env: dict[str, str], log_dir: Path, cwd: Path = ROOT) -> Measured:
    """Run one command to completion; wall time from spawn to reap, peak RSS of it and its children."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(list(args), stdout=stdout, stderr=stderr, env=env, cwd=cwd)
        # wait4 rather than Popen.wait: it hands back the child's rusage. ru_maxrss is in KiB on
        # Linux and covers the child's own waited-for children (dbt threads, ssh under sftp).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    output = stdout_path.read_text(errors="replace")
    if process.returncode != 0:
        tail = stderr_path.read_text(errors="replace")[-3000:] or output[-3000:]
        raise StageFailed(f"{name} exited {process.returncode}: {' '.join(args)}\n{tail}")
    return Measured(seconds, usage.ru_maxrss / 1024, output)


def _json_tail(text: str) -> Any:
    """The JSON document a `feeds --json` command prints on stdout."""
    return json.loads(text[text.index("{"):])


class Bench:
    """One benchmark run: a scratch directory, a loopback sshd and the environments for each tool."""

    def __init__(self, work: Path, server: Any, seed: int) -> None:
        self.work = work
        self.server = server
        self.seed = seed
        self.duckdb = work / "bench.duckdb"  # one path for every size, so dbt's partial parse stays valid
        self.config = work / "feeds.yml"
        self.write_config(work / "state" / "warmup")
        known_hosts = server.write_known_hosts(work / "known_hosts")
        self.env = {
            **os.environ,
            "FEEDS_DUCKDB_PATH": str(self.duckdb),
            # dbt's target/ (partial parse, run_results.json) and logs in the scratch dir, for the
            # stock CLI and for feeds' in-process dbtRunner alike.
            "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "dbt-logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYTHONUNBUFFERED": "1",
        }
        for key in [key for key in self.env if key.startswith("FEEDS_SFTP_") or key == "FEEDS_CONFIG"]:
            del self.env[key]
        self.sftp_env = {
            **self.env,
            "FEEDS_SFTP_HOST": "127.0.0.1",
            "FEEDS_SFTP_PORT": str(server.port),
            "FEEDS_SFTP_USER": server.user,
            "FEEDS_SFTP_KEY_FILE": str(server.client_key),
            "FEEDS_SFTP_KNOWN_HOSTS": str(known_hosts),
        }

    def write_config(self, state_dir: Path) -> None:
        """feeds.yml for one size. A fresh DuckDB file is a new warehouse, so it gets a fresh state
        directory: its first run sends every row (delta feeds have nothing delivered to compare
        against), as the reference pipeline does, and no safety gate sees a rebuilt warehouse."""
        self.config.write_text(
            f"project_dir: {ROOT}\n"
            f"duckdb_path: {self.duckdb}\n"
            f"output_dir: {self.work / 'out'}\n"
            f"state_dir: {state_dir}\n"
            "destination:\n"
            "  type: local\n"
            f"  path: {self.work / 'delivered'}\n"
        )

    def feeds(self, *args: str) -> list[str]:
        return [str(VENV_BIN / "feeds"), *args, "--config", str(self.config)]

    def dbt_build(self, *extra: str) -> list[str]:
        return [str(VENV_BIN / "dbt"), "build", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT / "profiles"),
                *extra]

    def remote_dir(self, name: str) -> str:
        """A fresh, empty remote directory for one stage (so no stage overwrites another's files)."""
        local = self.server.upload_dir / name
        shutil.rmtree(local, ignore_errors=True)
        local.mkdir(parents=True)
        return f"{self.server.remote_upload_dir}/{name}"

    def clear_remote(self) -> None:
        for child in self.server.upload_dir.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    def warm_up(self) -> None:
        """Parse the project once so every timed dbt invocation starts from the same partial parse."""
        measure("warmup-demo", self.feeds("demo-data", "--orders", "100", "--seed", str(self.seed)), self.env, self.work / "logs")
        measure("warmup-parse", [str(VENV_BIN / "dbt"), "parse", "--project-dir", str(ROOT), "--profiles-dir",
                                 str(ROOT / "profiles")], self.env, self.work / "logs")

    def size(self, orders: int, log: Any, rounds: int = 1) -> dict[str, Any]:
        """Generate the data once, then time every stage `rounds` times; each stage's figure is its
        median (peak RSS: its maximum), and every sample is kept in the JSON."""
        logs = self.work / "logs" / str(orders)
        for path in (self.duckdb, self.duckdb.with_name(self.duckdb.name + ".wal")):
            path.unlink(missing_ok=True)
        samples: dict[str, list[Measured]] = {}

        def step(name: str, args: Sequence[str], env: dict[str, str], round_: int) -> Measured:
            log(f"  {orders:>9,} orders  round {round_ + 1}/{rounds}  {name:<14}", end="")
            result = measure(name if round_ == 0 else f"{name}.{round_ + 1}", args, env, logs)
            log(f"{result.seconds:8.1f} s {result.max_rss_mib:8.0f} MiB")
            samples.setdefault(name, []).append(result)
            return result

        step("demo_data", self.feeds("demo-data", "--orders", str(orders), "--seed", str(self.seed)), self.env, 0)
        for round_ in range(rounds):
            files, ref_dir = self._round(orders, round_, step)
        stages = {name: Measured.median(runs) for name, runs in samples.items()}
        ran = _json_tail(stages["run"].stdout)["run"]  # the median run's own record
        copied = stages["ref_copy"]

        feeds_bytes = {name: feed["bytes"] for name, feed in ran["feeds"].items()}
        ref_bytes = {name: (ref_dir / f"{mart}.csv").stat().st_size for name, mart in MARTS.items()}
        upload_bytes = sum(Path(path).stat().st_size for path in files)
        reference_total = sum(stages[name].seconds for name in REFERENCE)
        stock_total = stages["dbt_build"].seconds + stages["ref_copy"].seconds + stages["ref_sftp"].seconds
        upload_mb_s = upload_bytes / 1e6 / stages["upload"].seconds
        sftp_mb_s = sum(ref_bytes.values()) / 1e6 / stages["ref_sftp"].seconds
        return {
            "orders": orders,
            "rows": {name: feed["rows"] for name, feed in ran["feeds"].items()},
            "modes": {name: feed.get("mode") for name, feed in ran["feeds"].items()},
            "bytes": feeds_bytes,
            "reference_bytes": ref_bytes,
            "stages": {name: stages[name].to_json() for name in STAGES},
            "reference": {
                **{name: stages[name].to_json() for name in REFERENCE},
                "total": {"seconds": round(reference_total, 3)},
                "stock_total": {"seconds": round(stock_total, 3)},
                "copy_in_process_seconds": {k: round(v, 3) for k, v in _json_tail(copied.stdout).items()},
            },
            "run_breakdown": {
                "dbt_build_seconds": (ran.get("dbt") or {}).get("seconds"),
                "dbt_counts": (ran.get("dbt") or {}).get("counts"),
                "export_seconds": {name: feed.get("export_seconds") for name, feed in ran["feeds"].items()},
                "delivery_seconds": {name: feed.get("delivery_seconds") for name, feed in ran["feeds"].items()},
            },
            "throughput_mb_s": {"upload": round(upload_mb_s, 1), "ref_sftp": round(sftp_mb_s, 1)},
            "ratios": {
                "run_vs_reference": round(stages["run"].seconds / reference_total, 3),
                "run_vs_stock": round(stages["run"].seconds / stock_total, 3),
                "export_vs_copy": round(stages["export"].seconds / stages["ref_copy"].seconds, 3),
                "upload_vs_sftp_throughput": round(upload_mb_s / sftp_mb_s, 3),
                "dbt_build_vs_ref_dbt_build": round(stages["dbt_build"].seconds / stages["ref_dbt_build"].seconds, 3),
            },
        }

    def _round(self, orders: int, round_: int, step: Any) -> tuple[list[Path], Path]:
        """One pass over every stage on the current data, from a fresh state and empty outputs."""
        shutil.rmtree(self.work / "out", ignore_errors=True)
        shutil.rmtree(self.work / "ref", ignore_errors=True)
        # A new warehouse for feeds: the first run sends every row, as the reference does.
        state = self.work / "state" / f"{orders}-{round_ + 1}"
        shutil.rmtree(state, ignore_errors=True)
        self.write_config(state)
        step("dbt_build", self.dbt_build(), self.env, round_)
        exported = _json_tail(step("export", self.feeds("export", "--json"), self.env, round_).stdout)["run"]
        files = [Path(feed["local_path"]) for feed in exported["feeds"].values()]
        upload_env = {**self.sftp_env, "FEEDS_SFTP_REMOTE_DIR": self.remote_dir("upload")}
        step("upload", self.feeds("upload", *map(str, files), "--json"), upload_env, round_)
        run_env = {**self.sftp_env, "FEEDS_SFTP_REMOTE_DIR": self.remote_dir("run")}
        step("run", self.feeds("run", "--json"), run_env, round_)
        self.clear_remote()

        step("ref_dbt_build", self.dbt_build("--exclude-resource-type", "unit_test"), self.env, round_)
        ref_dir = self.work / "ref"
        ref_dir.mkdir()
        step(
            "ref_copy",
            [sys.executable, "-c", COPY_SCRIPT, str(self.duckdb), str(ref_dir), *MARTS.values()],
            self.env,
            round_,
        )
        batch = self.work / "batch.txt"
        remote = self.remote_dir("ref")
        batch.write_text("".join(f"put {ref_dir / mart}.csv {remote}/{mart}.csv\n" for mart in MARTS.values()))
        step("ref_sftp", self.server.sftp_command(batch), self.env, round_)
        self.clear_remote()
        return files, ref_dir


# -- targets, table, chart --------------------------------------------------------------------


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 6's targets, each judged on the largest size measured (1M orders in a full run)."""
    largest = results[-1]
    at = f"{largest['orders']:,} orders"
    ratios = largest["ratios"]
    checks = [
        {
            "target": "feeds run <= 1.0x reference pipeline building and testing the same nodes (aim 0.8x)",
            "value": ratios["run_vs_reference"],
            "holds": ratios["run_vs_reference"] <= 1.0,
            "aim_met": ratios["run_vs_reference"] <= 0.8,
            "at": at,
        },
        {
            "target": "feeds run <= 1.0x stock pipeline (plain dbt build with unit tests) (aim 0.8x)",
            "value": ratios["run_vs_stock"],
            "holds": ratios["run_vs_stock"] <= 1.0,
            "aim_met": ratios["run_vs_stock"] <= 0.8,
            "at": at,
        },
        {
            "target": "export <= 1.1x bare COPY",
            "value": ratios["export_vs_copy"],
            "holds": ratios["export_vs_copy"] <= 1.1,
            "at": at,
        },
        {
            "target": "upload >= 0.9x OpenSSH sftp throughput",
            "value": ratios["upload_vs_sftp_throughput"],
            "holds": ratios["upload_vs_sftp_throughput"] >= 0.9,
            "at": at,
        },
        {
            "target": "feeds run peak RSS < 1024 MiB",
            "value": largest["stages"]["run"]["max_rss_mib"],
            "holds": largest["stages"]["run"]["max_rss_mib"] < 1024,
            "at": at,
        },
    ]
    if len(results) > 1:
        smallest = results[0]
        growth = largest["stages"]["upload"]["max_rss_mib"] / smallest["stages"]["upload"]["max_rss_mib"]
        file_growth = sum(largest["bytes"].values()) / sum(smallest["bytes"].values())
        checks.append(
            {
                "target": "upload peak RSS flat in file size (largest/smallest <= 1.25)",
                "value": round(growth, 3),
                "holds": growth <= 1.25,
                "at": f"{smallest['orders']:,} -> {largest['orders']:,} orders (files x{file_growth:.0f})",
            }
        )
        previous = results[-2]
        scale = largest["orders"] / previous["orders"]
        for stage in ("run", "dbt_build", "export", "upload"):
            per_order = (largest["stages"][stage]["seconds"] / previous["stages"][stage]["seconds"]) / scale
            checks.append(
                {
                    "target": f"{stage}: time per order {previous['orders']:,} -> {largest['orders']:,} <= 1.2x (close to linear)",
                    "value": round(per_order, 3),
                    "holds": per_order <= 1.2,
                    "at": f"time x{largest['stages'][stage]['seconds'] / previous['stages'][stage]['seconds']:.2f} for orders x{scale:g}",
                }
            )
    return checks


def table(results: list[dict[str, Any]]) -> str:
    names = [*STAGES, *REFERENCE]
    lines = []
    header = f"{'orders':>9}  " + "  ".join(f"{name:>14}" for name in names) + f"  {'ref_total':>9}"
    lines.append("seconds (peak RSS MiB)")
    lines.append(header)
    for result in results:
        cells = []
        for name in names:
            cell = result["stages"].get(name) or result["reference"][name]
            cells.append(f"{cell['seconds']:7.1f} ({cell['max_rss_mib']:4.0f})")
        lines.append(
            f"{result['orders']:>9,}  " + "  ".join(f"{c:>14}" for c in cells)
            + f"  {result['reference']['total']['seconds']:9.1f}"
        )
    lines.append("")
    lines.append(f"{'orders':>9}  {'run/ref':>8}  {'run/stock':>9}  {'export/COPY':>11}  {'upload/sftp':>11}  "
                 f"{'build/ref':>9}  {'upload MB/s':>11}  {'sftp MB/s':>9}  rows per feed")
    for result in results:
        ratios, rates = result["ratios"], result["throughput_mb_s"]
        rows = ", ".join(f"{name} {n:,}" for name, n in result["rows"].items())
        lines.append(
            f"{result['orders']:>9,}  {ratios['run_vs_reference']:8.2f}  {ratios.get('run_vs_stock', 0):9.2f}  "
            f"{ratios['export_vs_copy']:11.2f}  {ratios['upload_vs_sftp_throughput']:11.2f}  "
            f"{ratios['dbt_build_vs_ref_dbt_build']:9.2f}  "
            f"{rates['upload']:11.1f}  {rates['ref_sftp']:9.1f}  {rows}"
        )
    return "\n".join(lines)


def chart(results: list[dict[str, Any]], path: Path, machine: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    orders = [result["orders"] for result in results]
    figure, axes = plt.subplots(figsize=(11, 6), dpi=110)
    # A feeds stage and the reference step doing the same job share a colour (solid vs dashed).
    colours = {"demo_data": "tab:gray", "dbt_build": "tab:blue", "export": "tab:green", "upload": "tab:red",
               "run": "black"}
    for name in STAGES:
        label = "dbt build CLI (with unit tests)" if name == "dbt_build" else f"feeds {name.replace('_', '-')}"
        axes.plot(orders, [r["stages"][name]["seconds"] for r in results], marker="o", color=colours[name],
                  linewidth=2.5 if name == "run" else 1.5, label=label)
    for name, pair in zip(REFERENCE, ("dbt_build", "export", "upload")):
        label = {"ref_dbt_build": "dbt build CLI, no unit tests", "ref_copy": "DuckDB COPY",
                 "ref_sftp": "OpenSSH sftp"}[name]
        axes.plot(orders, [r["reference"][name]["seconds"] for r in results], marker="x", linestyle="--",
                  color=colours[pair], label=f"reference: {label}")
    axes.plot(orders, [r["reference"]["total"]["seconds"] for r in results], color="black", linestyle="--",
              marker="s", linewidth=2.5, label="reference: total")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("orders (demo data)")
    axes.set_ylabel("wall time, seconds")
    axes.set_title(f"listrak-feeds benchmark ({machine['nproc']} cores, {machine['date'][:10]})")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def machine_info() -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    openssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit.stdout.strip() or None,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "dbt-core": version("dbt-core"),
        "dbt-duckdb": version("dbt-duckdb"),
        "paramiko": version("paramiko"),
        "openssh": openssh,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated order counts (default 10000,100000,1000000)")
    parser.add_argument("--quick", action="store_true",
                        help="small run to check the script: 2000,20000 orders, output under the scratch dir")
    parser.add_argument("--seed", type=int, default=42, help="demo data seed (default 42)")
    parser.add_argument("--rounds", type=int, help="times each stage runs per size; figures are medians "
                        "(default 3; 1 with --quick)")
    parser.add_argument("--out", type=Path, help="JSON results (default docs/bench/results.json; with --quick, scratch dir)")
    parser.add_argument("--chart", type=Path, help="PNG chart (default bench.png next to --out)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new one under /tmp)")
    parser.add_argument("--replot", type=Path, metavar="JSON",
                        help="only redraw the chart (and print the table) from an earlier results file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (DuckDB file, logs, dbt target/)")
    args = parser.parse_args()

    if args.replot:
        document = json.loads(args.replot.read_text())
        chart(document["sizes"], args.chart or args.replot.with_name("bench.png"), document["machine"])
        print(table(document["sizes"]))
        return 0
    sshd = _import_sshd()
    reason = sshd.sshd_missing_reason()
    if reason:
        print(f"cannot benchmark: {reason}", file=sys.stderr)
        return 2
    if args.sizes:
        sizes = sorted(int(size.replace("_", "")) for size in args.sizes.split(","))
    else:
        sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    rounds = args.rounds or (1 if args.quick else 3)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="feeds-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    out = args.out or (work / "results.json" if args.quick else ROOT / "docs" / "bench" / "results.json")
    chart_path = args.chart or out.with_name("bench.png")

    def log(text: str, end: str = "\n") -> None:
        print(text, end=end, file=sys.stderr, flush=True)

    machine = machine_info()
    log(f"scratch: {work}; sizes: {', '.join(f'{s:,}' for s in sizes)}")
    started = time.perf_counter()
    results = []
    try:
        with sshd.SshServer(work / "sshd") as server:
            bench = Bench(work, server, args.seed)
            bench.warm_up()
            for orders in sizes:
                results.append(bench.size(orders, log, rounds))
    except StageFailed as failure:
        log(f"\nbenchmark stopped: {failure}\nlogs: {work / 'logs'}")
        return 1
    total = time.perf_counter() - started

    checks = targets(results)
    document = {
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *sys.argv[1:]]),
        "machine": machine,
        "seed": args.seed,
        "rounds": rounds,
        "bench_seconds": round(total, 1),
        "sizes": results,
        "targets": checks,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    chart(results, chart_path, machine)

    print(table(results))
    print()
    print("targets (judged at the largest size):")
    for check in checks:
        verdict = "holds" if check["holds"] else "MISSED"
        aim = "" if "aim_met" not in check else ("; aim 0.8x met" if check["aim_met"] else "; aim 0.8x not met")
        print(f"  {verdict:<6}  {check['target']}: {check['value']} ({check['at']}{aim})")
    print(f"\nbenchmark took {total:.0f} s; wrote {out} and {chart_path}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
