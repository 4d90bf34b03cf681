"""Operations (issue 16): `feeds status` and its exit 5, webhooks, Prometheus metrics, all over a
cron-like loop of real runs (real DuckDB, dbt, a real HTTP server on loopback), some failing and one
refused by a gate."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.config import load_settings
from runner.errors import ConfigError
from webhooks import WebhookServer, serving
from workspace import Workspace

FEEDS = ["orders", "order_items", "customers", "products"]


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookServer]:
    yield from serving()


def backdate(workspace: Workspace, hours: float) -> None:
    """Move every run record `hours` into the past, as if the loop had stopped that long ago."""
    for path in (workspace.root / "state" / "runs").glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        for key in ("started_at", "finished_at"):
            if record.get(key):
                record[key] = (datetime.fromisoformat(record[key]) - timedelta(hours=hours)).isoformat(timespec="seconds")
        path.write_text(json.dumps(record), encoding="utf-8")


def metrics(path: Path) -> dict[tuple[str, tuple], float]:
    """The samples of a textfile, parsed by prometheus_client's own parser."""
    samples = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


class Loop:
    """A workspace run like cron would run it, with webhooks on the loopback server."""

    def __init__(self, root: Path, hooks: WebhookServer) -> None:
        self.workspace = Workspace(root, seed=23, orders=300)
        # A malformed address: quarantined, and so shown in the report, where it must appear masked.
        self.workspace.sql("update shopify.customer set email = 'jane.doe@example' "
                           "where id = (select min(id) from shopify.customer where email like '%@%')")
        with self.workspace.config.open("a", encoding="utf-8") as config:
            config.write(
                "defaults:\n  max_age: 2h\nfeeds:\n  products:\n    max_age: 30m\n"
                "notify:\n"
                "  - {url_env: HOOK_ALERTS, events: [failure, gate_refused, recovered, stale], timeout: 2, retries: 1}\n"
                "  - {url_env: HOOK_QUARANTINE, events: [quarantine_over_warning], timeout: 2, retries: 0}\n"
                "  - {url_env: HOOK_HANGS, events: [recovered], timeout: 1, retries: 0}\n"
            )
        self.env = {"HOOK_ALERTS": hooks.url("/ok/alerts"), "HOOK_QUARANTINE": hooks.url("/ok/quarantine"),
                    "HOOK_HANGS": hooks.url("/hang/recovered")}
        self.prom = root / "feeds.prom"

    def feeds(self, *args: str):
        return self.workspace.feeds(*args, "--config", str(self.workspace.config), env=self.env)

    def status(self, *args: str):
        result = self.feeds("status", "--json", "--no-freshness", "--prometheus", str(self.prom), *args)
        return result, json.loads(result.stdout)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, hooks: WebhookServer) -> dict:
    """The loop: ok, delivery failure, gate refusal, recovery; then hours pass without runs."""
    runner = Loop(tmp_path_factory.mktemp("ops") / "ws", hooks)
    workspace, seen = runner.workspace, {}

    first = runner.feeds("run", "--quiet", "--json", "--prometheus", str(runner.prom))
    assert first.returncode == 0, first.stderr
    seen["first"] = json.loads(first.stdout)["run"]
    seen["after_run_metrics"] = metrics(runner.prom)
    seen["fresh"] = runner.status()

    workspace.delivered.rename(workspace.root / "delivered.away")
    workspace.delivered.write_text("a file where the destination folder should be\n", encoding="utf-8")
    seen["delivery_failed"] = runner.feeds("run", "--skip-build", "--quiet")
    workspace.delivered.unlink()
    (workspace.root / "delivered.away").rename(workspace.delivered)

    shutil.copyfile(workspace.duckdb, workspace.root / "backup.duckdb")
    workspace.sql("delete from main.listrak_products where hash(\"Sku\") % 2 = 0")
    seen["refused"] = runner.feeds("run", "--skip-build", "--quiet")
    shutil.copyfile(workspace.root / "backup.duckdb", workspace.duckdb)

    started = time.monotonic()
    seen["recovered"] = runner.feeds("run", "--skip-build", "--quiet")
    seen["recovered_seconds"] = time.monotonic() - started
    seen["log"] = (workspace.root / "state" / "feeds.log").read_text(encoding="utf-8")

    backdate(workspace, 1)  # products (30m) is now stale, the others (2h) are not
    seen["one_stale"] = runner.status("--notify")
    seen["one_stale_metrics"] = metrics(runner.prom)
    seen["again"] = runner.status("--notify")  # already reported: no second event
    backdate(workspace, 2)
    seen["all_stale"] = runner.status("--notify")
    seen["human"] = runner.feeds("status", "--no-freshness")
    seen["runner"] = runner
    return seen


def test_the_loop_runs_end_as_expected(loop: dict) -> None:
    assert loop["delivery_failed"].returncode == 3, loop["delivery_failed"].stderr
    assert loop["refused"].returncode == 4, loop["refused"].stderr
    assert "safety gate refused" in loop["refused"].stderr
    assert loop["recovered"].returncode == 0, loop["recovered"].stderr


def test_status_exits_5_exactly_when_a_feed_passes_its_max_age(loop: dict) -> None:
    fresh, fresh_doc = loop["fresh"]
    assert fresh.returncode == 0, fresh.stderr
    assert fresh_doc["ok"] and fresh_doc["stale"] == []
    one, one_doc = loop["one_stale"]
    assert one.returncode == 5, one.stderr
    assert one_doc["stale"] == ["products"] and one_doc["exit_code"] == 5
    assert "stale: products: last delivered 1h" in one.stderr and "max_age 30m" in one.stderr
    every, every_doc = loop["all_stale"]
    assert every.returncode == 5 and sorted(every_doc["stale"]) == sorted(FEEDS)


def test_status_names_last_success_and_last_attempt(loop: dict) -> None:
    _, document = loop["one_stale"]
    by_feed = {feed["feed"]: feed for feed in document["feeds"]}
    assert sorted(by_feed) == sorted(FEEDS)
    recovered_run = json.loads(Path(loop["runner"].workspace.root / "state" / "runs").joinpath(
        sorted(p.name for p in (loop["runner"].workspace.root / "state" / "runs").glob("*.json"))[-1]
    ).read_text())["run_id"]
    products = by_feed["products"]
    assert products["last_success"]["run_id"] == recovered_run
    assert products["last_success"]["file"].startswith("Listrak_Product_Feed_")
    assert products["last_success"]["rows"] > 0
    assert products["last_attempt"] == {**products["last_attempt"], "run_id": recovered_run, "status": "delivered",
                                        "run_status": "success"}
    assert products["max_age_seconds"] == 1800 and by_feed["orders"]["max_age_seconds"] == 7200
    human = loop["human"]
    assert human.returncode == 5 and "STALE" in human.stdout and "Listrak_Product_Feed_" in human.stdout


def test_the_webhook_server_receives_exactly_the_expected_events(loop: dict, hooks: WebhookServer) -> None:
    assert hooks.events("/ok/alerts") == ["failure", "gate_refused", "recovered", "stale", "stale"]
    failure, refused, recovered, stale_one, stale_rest = hooks.bodies("/ok/alerts")
    assert failure["run"]["error_type"] == "DeliveryError" and "destination directory" in failure["text"]
    assert "safety gate refused" in refused["text"] and refused["run"]["status"] == "failed"
    assert recovered["run"]["status"] == "success"
    assert [feed["feed"] for feed in stale_one["feeds"]] == ["products"] and "products" in stale_one["text"]
    assert sorted(feed["feed"] for feed in stale_rest["feeds"]) == ["customers", "order_items", "orders"]
    # The malformed address puts customers' quarantine over rejects_warn_share (1%): the build's warn
    # test fires in the one run that built; the --skip-build runs cannot raise it.
    warned = [item["model"] for item in loop["first"]["dbt"]["warnings"]]
    assert "listrak_customers_rejects" in warned
    assert hooks.events("/ok/quarantine") == ["quarantine_over_warning"]
    assert "customers: " in hooks.bodies("/ok/quarantine")[0]["text"]


def test_a_hanging_webhook_never_changes_the_run(loop: dict, hooks: WebhookServer) -> None:
    assert hooks.events("/hang/recovered") == ["recovered"]
    assert loop["recovered"].returncode == 0
    assert loop["recovered_seconds"] < 60
    assert "notify: the recovered webhook ($HOOK_HANGS) failed after 1 attempts: timed out" in loop["log"]
    assert "127.0.0.1" not in loop["log"], "a webhook URL is a secret and never logged"


def test_the_prometheus_file_parses_with_prometheus_client(loop: dict) -> None:
    after_run = loop["after_run_metrics"]
    for feed in FEEDS:
        assert after_run[("feeds_stale", (("feed", feed),))] == 0
        assert after_run[("feeds_last_success_rows", (("feed", feed),))] > 0
        assert after_run[("feeds_last_success_timestamp_seconds", (("feed", feed),))] > time.time() - 3600
    assert after_run[("feeds_last_run_success", ())] == 1
    assert after_run[("feeds_run_stage_duration_seconds", (("stage", "build"),))] > 0
    assert {key[1] for key in after_run if key[0] == "feeds_run_stage_duration_seconds"} >= {
        (("stage", stage),) for stage in ("build", "export", "deliver", "total")}
    later = loop["one_stale_metrics"]
    assert later[("feeds_stale", (("feed", "products"),))] == 1
    assert later[("feeds_stale", (("feed", "orders"),))] == 0
    assert later[("feeds_max_age_seconds", (("feed", "products"),))] == 1800
    first = loop["first"]["feeds"]
    for feed, entry in first.items():
        for reason, count in entry["rejects"].items():
            assert later[("feeds_rows_quarantined", (("feed", feed), ("reason", reason)))] == count
    mode = oct(loop["runner"].prom.stat().st_mode & 0o777)
    assert mode == "0o644", "node_exporter runs as its own user"
    assert not list(loop["runner"].prom.parent.glob(".feeds.prom.*")), "no temporary file is left"


def test_webhooks_that_answer_500_or_hang_are_retried_then_logged(tmp_path: Path, hooks: WebhookServer) -> None:
    """No run at all: every feed is stale (never delivered), and `status --notify` reports it."""
    workspace = Workspace(tmp_path / "ws", generate_data=False)
    with workspace.config.open("a", encoding="utf-8") as config:
        config.write(
            "notify:\n"
            "  - {url_env: HOOK_500, events: [stale], timeout: 2, retries: 2}\n"
            "  - {url_env: HOOK_HANG, events: [stale], timeout: 1, retries: 1}\n"
            "  - {url_env: HOOK_OK, events: [stale]}\n"
            "  - {url_env: HOOK_UNSET, events: [stale]}\n"
        )
    env = {"HOOK_500": hooks.url("/fail/500"), "HOOK_HANG": hooks.url("/hang/stale"), "HOOK_OK": hooks.url("/ok/stale")}
    started = time.monotonic()
    result = workspace.feeds("status", "--notify", "--no-freshness", "--json", "--config", str(workspace.config), env=env)
    assert result.returncode == 5, result.stderr
    assert time.monotonic() - started < 30
    assert hooks.events("/fail/500") == ["stale"] * 3
    assert hooks.events("/hang/stale") == ["stale"] * 2
    assert hooks.events("/ok/stale") == ["stale"]
    assert "never delivered" in hooks.bodies("/ok/stale")[0]["text"]
    assert "the stale webhook ($HOOK_500) failed after 3 attempts: HTTP 500" in result.stderr
    assert "the stale webhook ($HOOK_HANG) failed after 2 attempts: timed out" in result.stderr
    assert "HOOK_UNSET is not set" in result.stderr
    assert "127.0.0.1" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defaults:\n  max_age: 2 hours\n", "defaults.max_age"),
        ("feeds:\n  orders:\n    max_age: 0m\n", "feeds.orders.max_age"),
        ("notify:\n  - {url_env: 'https://hooks.example/x', events: [failure]}\n", "notify.0.url_env"),
        ("notify:\n  - {url_env: HOOK, events: [fail]}\n", "notify.0.events"),
        ("notify:\n  - {url_env: HOOK, events: []}\n", "notify.0.events"),
    ],
)
def test_bad_operations_settings_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "feeds.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")) as raised:
        load_settings(path, environ={})
    assert "hooks.example" not in str(raised.value), "a webhook URL is a secret, never echoed"


# -- the report, rendered in headless Chromium ---------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Debian's chromium, headless, logging the page's console to stderr (`...:CONSOLE...] "message"`)."""
    if CHROMIUM is None:
        if os.environ.get("FEEDS_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (FEEDS_REQUIRE_CHROMIUM); .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )


def console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(loop: dict) -> Path:
    runner = loop["runner"]
    path = runner.workspace.root / "report" / "report.html"
    result = runner.feeds("report", "--output", str(path))
    assert result.returncode == 0, result.stderr
    assert f"wrote {path}" in result.stdout
    return path


def test_the_report_is_self_contained_and_masks_emails(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    for external in ("src=", "href=", "url(", "@import", "<script", "<link"):
        assert external not in html, f"{external} would need something outside the file"
    assert html.count('<svg class="chart"') == 4 and "no data in these runs" not in html
    assert all(found.split("@")[0].endswith("***") for found in EMAIL.findall(html)), EMAIL.findall(html)
    assert "jane.doe" not in html and "j***@example" in html, "a quarantined address appears masked"
    assert "DeliveryError" in html and "safety gate refused" in html  # the last failures
    assert "unknown:" not in html, "every feed shows the age of its newest source row"


def test_the_report_renders_its_charts_in_chromium(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    # The console check can see an error: a page that logs one is caught.
    broken = tmp_path / "broken.html"
    broken.write_text("<p>x</p><script>console.error('seen')</script>", encoding="utf-8")
    assert any("seen" in line for line in console(chromium(broken, tmp_path / "p0", "--dump-dom").stderr))

    dom = chromium(report, tmp_path / "p1", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<svg class="chart"') == 4 and "<circle" in dom.stdout and "<rect" in dom.stdout
    assert console(dom.stderr) == []
    shot = tmp_path / "report.png"
    result = chromium(report, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1400,2000")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert console(result.stderr) == []
    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20) or []
    assert len(colors) > 50, "the page is blank"
    counts = {color: count for count, color in colors}

    def drawn(hex_color: str) -> int:
        target = tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
        return sum(n for color, n in counts.items() if all(abs(a - b) <= 8 for a, b in zip(color, target)))

    # Series colours of the charts (first four of the palette: feeds, reasons, stages) are on screen.
    from runner.ops.charts import PALETTE

    assert all(drawn(color) > 50 for color in PALETTE[:4]), [drawn(color) for color in PALETTE[:4]]
