"""Incremental benchmark (issue 15): what a scheduled `feeds run` costs after a small change.

On demo data (default 1M orders), its syncs moved a day back (see age()), it runs `feeds run` once (every row delivered), then, each round:

    change        0.1% of orders (their row, lines, fulfillments, refunds), customers and products
                  get new values and a new `_fivetran_synced`, by SQL on the raw tables
    incremental   `feeds run` (the incremental models recompute only what changed)
    full_refresh  `feeds run --full-refresh` on the same change (the store and the feeds state are
                  restored from a copy taken before the incremental run)
    stock         the stock pipeline rebuilding everything: the `dbt build` CLI (`--full-refresh`,
                  unit tests excluded as feeds excludes them) + one DuckDB `COPY` per mart + OpenSSH
                  `sftp -b` of the four files to the same loopback sshd (on that copy too)

The next round continues from the store and feeds state the incremental run left, as consecutive
scheduled runs do. (Until 2026-12-01 it continued from the stock pipeline's rebuild, whose rows no
delivery had seen: rounds 2 and 3 then fingerprinted every mart row, about 3.5M at 1M orders.)

Every `feeds run` delivers over SFTP to a loopback OpenSSH sshd (tests/python/sshd.py), each into
a fresh remote folder (Listrak has picked the last files up). The stock CLI gets its own dbt
target folder, so its parse does not spoil feeds' partial parse. Figures are medians over the
rounds, ratios of medians; targets: incremental <= 0.3x full refresh and <= 0.3x stock at 1M
orders with 0.1% changed, <= 0.1x at 10M orders with 0.01% changed.

    .venv/bin/python bench/incremental.py                                    # 1M orders, 0.1%, 3 rounds
    .venv/bin/python bench/incremental.py --orders 10000000 --change 0.0001  # the 10M case
    .venv/bin/python bench/incremental.py --orders 20000 --rounds 1          # checks the script quickly
    .venv/bin/python bench/incremental.py --out docs/bench/incremental.json --steady docs/bench/steady_state.json
                                  # also writes docs/bench/incremental.png (with the steady-state breakdown)

Without `feeds run --full-refresh` (the incremental models of issue 15 not in this tree) it says
so, and measures `feeds run` (then a full rebuild) against the stock pipeline only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def _bench_run() -> Any:
    """bench/run.py (measure, Bench, the reference COPY script), imported by path."""
    spec = importlib.util.spec_from_file_location("feeds_bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def age(database: Path, days: int = 1) -> None:
    """Move every raw row's `_fivetran_synced` `days` back, then stamp one order, customer and product
    as synced now: the store looks like an initial sync a day ago followed by a regular sync.
    `feeds demo-data` stamps every row within half an hour; left so, every row stays inside the
    lookback window (var incremental_lookback_hours) of the newest sync until a later sync moves the
    watermark on, and the runner rebuilds each incremental model whole rather than run it
    incrementally (README "Incremental builds", right after an initial sync). Each model's watermark
    is its own entity's newest sync, hence one row of each."""
    with duckdb.connect(str(database)) as connection:
        tables = [row[0] for row in connection.execute(
            "select table_name from information_schema.columns where table_schema = 'shopify'"
            " and column_name = '_fivetran_synced'").fetchall()]
        for table in tables:
            connection.execute(f'update shopify."{table}" set _fivetran_synced = _fivetran_synced'
                               f" - interval {int(days)} day")
        for entity in ("order", "customer", "product"):
            connection.execute(f'update shopify."{entity}" set _fivetran_synced = now()::timestamp'
                               f' where id = (select min(id) from shopify."{entity}")')


def change(database: Path, round_: int, fraction: float) -> dict[str, int]:
    """Give `fraction` of orders (with lines, fulfillments, refunds), customers and products new
    values and a new `_fivetran_synced`, picked by a hash of the id and the round; rows changed."""
    every = max(1, round(1 / fraction))
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    picked = f"hash(id, {round_}) % {every} = 0"
    statements = {
        "order": f"""update shopify."order" set
                shipping_address_zip = lpad((hash(id, {round_}, 'zip') % 99999)::varchar, 5, '0'),
                updated_at = $now, _fivetran_synced = $now
            where {picked}""",
        "order_line": f"""update shopify.order_line set _fivetran_synced = $now
            where order_id in (select id from shopify."order" where {picked})""",
        "fulfillment": f"""update shopify.fulfillment set
                tracking_number = case when tracking_number is null then null
                    else lpad((hash(id, {round_}, 'track') % 999999999999)::varchar, 12, '0') end,
                updated_at = $now, _fivetran_synced = $now
            where order_id in (select id from shopify."order" where {picked})""",
        "refund": f"""update shopify.refund set _fivetran_synced = $now
            where order_id in (select id from shopify."order" where {picked})""",
        "order_line_refund": f"""update shopify.order_line_refund set _fivetran_synced = $now
            where refund_id in (select refund.id from shopify.refund as refund
                                inner join shopify."order" as o on refund.order_id = o.id
                                where hash(o.id, {round_}) % {every} = 0)""",
        "customer": f"""update shopify.customer set
                last_name = coalesce(last_name, 'New') || 'son', updated_at = $now, _fivetran_synced = $now
            where {picked}""",
        "product": f"""update shopify.product set
                title = title || ' II', updated_at = $now, _fivetran_synced = $now
            where {picked}""",
        "product_variant": f"""update shopify.product_variant set
                inventory_quantity = inventory_quantity + 1, updated_at = $now, _fivetran_synced = $now
            where product_id in (select id from shopify.product where {picked})""",
    }
    changed = {}
    with duckdb.connect(str(database)) as connection:
        connection.execute("begin transaction")
        for table, sql in statements.items():
            (changed[table],) = connection.execute(sql, {"now": now}).fetchone()
        connection.execute("commit")
    return changed


def _copy_store(bench: Any, state: Path, to: Path) -> None:
    shutil.rmtree(to, ignore_errors=True)
    to.mkdir(parents=True)
    for path in (bench.duckdb, bench.duckdb.with_name(bench.duckdb.name + ".wal")):
        if path.exists():
            shutil.copy2(path, to / path.name)
    shutil.copytree(state, to / "state")


def _restore_store(bench: Any, state: Path, snapshot: Path) -> None:
    for path in (bench.duckdb, bench.duckdb.with_name(bench.duckdb.name + ".wal")):
        path.unlink(missing_ok=True)
        if (snapshot / path.name).exists():
            shutil.copy2(snapshot / path.name, path)
    shutil.rmtree(state)
    shutil.copytree(snapshot / "state", state)


def _modes(stdout: str) -> dict[str, int]:
    """How many models the run built incrementally or whole, as its record says (when it does)."""
    record = json.loads(stdout[stdout.index("{"):])["run"]
    counts: dict[str, int] = {}
    # feeds records each incremental model's mode under dbt.incremental: {model: {"mode": ...}}.
    for mode in ((record.get("dbt") or {}).get("incremental") or {}).values():
        label = mode.get("mode") if isinstance(mode, dict) else mode
        counts[str(label)] = counts.get(str(label), 0) + 1
    return counts


def chart(document: dict[str, Any], path: Path, steady: dict[str, Any] | None = None) -> None:
    """Bars of the median seconds: incremental, full refresh, stock; beside them, when given, the
    steady-state breakdown of `feeds run` on an unchanged store (bench/steady_state.py --out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    median = document["median_seconds"]
    stock_parts = [(label, median[name]) for label, name in (("dbt build CLI", "stock_dbt_build"),
                   ("DuckDB COPY", "stock_copy"), ("OpenSSH sftp", "stock_sftp")) if name in median]
    panels = 2 if steady else 1
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), dpi=110, squeeze=False)
    left = axes[0][0]
    bars = [(name, median[name]) for name in ("incremental", "full_refresh", "feeds_run") if name in median]
    labels = [name.replace("_", " ") for name, _ in bars] + (["stock pipeline"] if stock_parts else [])
    for index, (_, seconds) in enumerate(bars):
        left.bar(index, seconds, color="black" if index == 0 else "tab:blue")
        left.text(index, seconds, f"{seconds:.1f} s", ha="center", va="bottom", fontsize=8)
    bottom = 0.0
    for (name, seconds), colour in zip(stock_parts, ("tab:blue", "tab:green", "tab:red")):
        left.bar(len(bars), seconds, bottom=bottom, color=colour, alpha=0.6, label=name)
        bottom += seconds
    if stock_parts:
        left.text(len(bars), bottom, f"{bottom:.1f} s", ha="center", va="bottom", fontsize=8)
    left.set_xticks(range(len(labels)), labels)
    left.set_ylabel("wall time, seconds (median)")
    left.set_title(f"feeds run after {document['change']:.2%} changed, {document['orders']:,} orders", fontsize=9)
    left.legend(fontsize=7)
    if steady:
        right = axes[0][1]
        parts = steady["parts"]
        names = [name for name in parts if name != "delivery"]
        right.barh(names, [parts[name] for name in names], color="tab:gray")
        for index, name in enumerate(names):
            right.text(parts[name], index, f" {parts[name]:.1f} s", va="center", fontsize=8)
        right.invert_yaxis()
        right.set_xlabel("seconds (median)")
        right.set_title(f"feeds run on an unchanged store, {steady['orders']:,} orders "
                        f"({steady['steady_run_seconds']:.1f} s)", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="demo orders (default 1,000,000)")
    parser.add_argument("--change", type=float, default=0.001,
                        help="fraction of orders, customers and products changed per round (default 0.001)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; figures are medians (default 3)")
    parser.add_argument("--seed", type=int, default=42, help="demo data seed (default 42)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new one under /tmp, removed)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here, and a chart beside it (.png)")
    parser.add_argument("--steady", type=Path, metavar="JSON",
                        help="bench/steady_state.py --out figures to draw beside the incremental ones")
    parser.add_argument("--replot", type=Path, metavar="JSON", help="only redraw the chart from an earlier --out file")
    parser.add_argument("--no-stock", action="store_true",
                        help="skip the stock pipeline (the 10M case compares incremental with full refresh only)")
    args = parser.parse_args()
    steady = json.loads(args.steady.read_text()) if args.steady else None
    if args.replot:
        chart(json.loads(args.replot.read_text()), args.replot.with_suffix(".png"), steady)
        return 0
    if not 0 < args.change <= 1:
        parser.error("--change must be a fraction in (0, 1]")

    bench_run = _bench_run()
    sshd = bench_run._import_sshd()
    reason = sshd.sshd_missing_reason()
    if reason:
        print(f"cannot benchmark: {reason}", file=sys.stderr)
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="feeds-incremental-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    samples: dict[str, list[float]] = {}
    modes: dict[str, dict[str, int]] = {}
    changed: dict[str, int] = {}
    peak_rss: dict[str, float] = {}
    try:
        with sshd.SshServer(work / "sshd") as server:
            bench = bench_run.Bench(work, server, args.seed)
            state = work / "state" / "feeds"
            bench.write_config(state)
            helped = subprocess.run(bench.feeds("run", "--help"), capture_output=True, text=True, env=bench.env)
            incremental = "--full-refresh" in helped.stdout
            if not incremental:
                log("NOTE: this tree's `feeds run` has no --full-refresh: the incremental models of issue 15 "
                    "(branch feat/incr) are not in it. Measuring `feeds run` (a full rebuild) against the "
                    "stock pipeline only; there is no incremental figure to report.")
            stock_env = {**bench.env, "DBT_TARGET_PATH": str(work / "target-stock")}

            def timed(name: str, command: list[str], env: dict[str, str]) -> Any:
                result = bench_run.measure(name, command, env, logs)
                samples.setdefault(name.split(".")[0], []).append(result.seconds)
                key = name.split(".")[0]
                peak_rss[key] = max(peak_rss.get(key, 0.0), round(result.max_rss_mib))
                log(f"  {name:<22} {result.seconds:8.1f} s {result.max_rss_mib:7.0f} MiB")
                return result

            def run_env(name: str) -> dict[str, str]:
                return {**bench.sftp_env, "FEEDS_SFTP_REMOTE_DIR": bench.remote_dir(name)}

            log(f"scratch {work}: {args.orders:,} orders, {args.change:.4%} changed per round, {args.rounds} rounds")
            demo = bench_run.measure("demo_data", bench.feeds("demo-data", "--orders", str(args.orders), "--seed",
                                                              str(args.seed)), bench.env, logs)
            peak_rss["demo_data"] = round(demo.max_rss_mib)
            log(f"  demo data              {demo.seconds:8.1f} s {demo.max_rss_mib:7.0f} MiB")
            age(bench.duckdb)
            first = bench_run.measure("first_run", bench.feeds("run", "--json"), run_env("first"), logs)
            peak_rss["first_run"] = round(first.max_rss_mib)
            log(f"  first run (every row)  {first.seconds:8.1f} s {first.max_rss_mib:7.0f} MiB")
            for round_ in range(1, args.rounds + 1):
                changed = change(bench.duckdb, round_, args.change)
                log(f"round {round_}: changed {changed}")
                snapshot = work / "snapshot"
                if incremental:
                    _copy_store(bench, state, snapshot)
                ran = timed(f"incremental.{round_}" if incremental else f"feeds_run.{round_}",
                            bench.feeds("run", "--json"), run_env(f"inc{round_}"))
                modes["incremental" if incremental else "feeds_run"] = _modes(ran.stdout)
                # The next round starts where this incremental run left the store and the feeds state,
                # as consecutive scheduled runs do: the full refresh and the stock pipeline run on
                # the snapshot taken before it, and rewrite every row with a build the state never saw
                # (a next run after them would fingerprint every row).
                after = work / "after-incremental"
                if incremental:
                    _copy_store(bench, state, after)
                    _restore_store(bench, state, snapshot)
                    full = timed(f"full_refresh.{round_}", bench.feeds("run", "--json", "--full-refresh"),
                                 run_env(f"full{round_}"))
                    modes["full_refresh"] = _modes(full.stdout)
                if args.no_stock:
                    if incremental:
                        _restore_store(bench, state, after)
                    continue
                if incremental:
                    _restore_store(bench, state, snapshot)
                timed(f"stock_dbt_build.{round_}",
                      bench.dbt_build("--exclude-resource-type", "unit_test", *(["--full-refresh"] if incremental else [])),
                      stock_env)
                ref_dir = work / "ref"
                shutil.rmtree(ref_dir, ignore_errors=True)
                ref_dir.mkdir()
                timed(f"stock_copy.{round_}", [sys.executable, "-c", bench_run.COPY_SCRIPT, str(bench.duckdb),
                                               str(ref_dir), *bench_run.MARTS.values()], bench.env)
                batch = work / "batch.txt"
                remote = bench.remote_dir(f"stock{round_}")
                batch.write_text("".join(f"put {ref_dir / mart}.csv {remote}/{mart}.csv\n"
                                         for mart in bench_run.MARTS.values()))
                timed(f"stock_sftp.{round_}", server.sftp_command(batch), bench.env)
                bench.clear_remote()
                if incremental:
                    _restore_store(bench, state, after)
    except bench_run.StageFailed as failure:
        log(f"\nbenchmark stopped: {failure}\nlogs: {logs}")
        return 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    median = {name: statistics.median(values) for name, values in samples.items()}
    stock = (median["stock_dbt_build"] + median["stock_copy"] + median["stock_sftp"]) if not args.no_stock else None
    run_name = "incremental" if incremental else "feeds_run"
    ratios = {f"{run_name}_vs_stock": round(median[run_name] / stock, 3)} if stock else {}
    if incremental:
        ratios["incremental_vs_full_refresh"] = round(median["incremental"] / median["full_refresh"], 3)
    target = 0.3 if args.change >= 0.001 else 0.1
    document = {
        "orders": args.orders,
        "change": args.change,
        "rounds": args.rounds,
        "incremental_models": incremental,
        "rows_changed_last_round": changed,
        "demo_data_seconds": round(demo.seconds, 2),
        "first_run_seconds": round(first.seconds, 2),
        "median_seconds": {name: round(value, 2) for name, value in median.items()},
        "stock_seconds": round(stock, 2) if stock else None,
        "peak_rss_mib": peak_rss,
        "rounds_seconds": {name: [round(value, 2) for value in values] for name, values in samples.items()},
        "ratios": ratios,
        "target": target,
        "model_modes": modes,
        "bench_seconds": round(time.perf_counter() - started, 1),
    }
    print(f"{args.orders:,} orders, {args.change:.4%} changed, median of {args.rounds} rounds (seconds):")
    for name, value in median.items():
        print(f"  {name:<18} {value:8.1f}")
    if stock:
        print(f"  {'stock total':<18} {stock:8.1f}  (dbt build CLI + COPY + sftp)")
    for name, value in peak_rss.items():
        print(f"  peak RSS {name:<22} {value:8.0f} MiB")
    for name, value in ratios.items():
        verdict = "holds" if value <= target else "MISSED"
        print(f"  {name:<30} {value:6.3f}x  (target <= {target}x: {verdict})")
    if not incremental:
        print("  no incremental figures: `feeds run --full-refresh` is missing (issue 15's incremental models)")
    if args.out:
        args.out.write_text(json.dumps(document, indent=2) + "\n")
        chart(document, args.out.with_suffix(".png"), steady)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
