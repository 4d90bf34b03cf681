"""Webhooks (`notify:` in feeds.yml): a JSON run summary with a Slack/Teams-compatible `text`.

Events: `failure` (a run failed), `gate_refused` (a safety gate refused it), `quarantine_over_warning`
(the build's rejects_warn_share test warned), `recovered` (the first success after a failed run),
`stale` (`feeds status --notify` found a feed past its max_age; once per feed until it is fresh).

A webhook is best effort: timeouts, a few retries on errors and 5xx answers, then a warning in the
log. It never changes a run's exit code or its delivery. Its URL is a secret and is never logged.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Mapping

from runner.config import Settings
from runner.config_ops import NotifySettings
from runner.ops.status import Status
from runner.ops.text import mask_emails
from runner.record import RunRecord

log = logging.getLogger("runner.ops.notify")

#: Where `feeds status --notify` remembers which feeds it already reported stale.
NOTIFIED_FILE = "notified.json"


def run_events(record: RunRecord, previous: RunRecord | None, rejects_models: set[str]) -> list[str]:
    """The events a finished `feeds run` raises, given the run before it."""
    events = []
    if record.status == "success":
        if previous is not None and previous.status in ("failed", "interrupted"):
            events.append("recovered")
    elif record.error_type == "RunLocked":
        pass  # another run holds the lock: that run reports, not this one
    elif record.error_type == "GateRefused":
        events.append("gate_refused")
    else:
        events.append("failure")
    warned = [item for item in (record.dbt or {}).get("warnings", []) if item.get("model") in rejects_models]
    if warned:
        events.append("quarantine_over_warning")
    return events


def run_payload(event: str, record: RunRecord) -> dict[str, Any]:
    feeds = {
        name: {"status": entry.status, "rows": entry.rows, "rejected_rows": entry.rejected_rows,
               "rejects": entry.rejects, "error": entry.error}
        for name, entry in record.feeds.items()
    }
    title = {
        "failure": "feeds run failed", "gate_refused": "feeds run refused by a safety gate",
        "recovered": "feeds run succeeded again after a failure",
        "quarantine_over_warning": "quarantined rows over the warning share",
    }[event]
    lines = [f"[listrak-feeds] {title} on {socket.gethostname()} (run {record.run_id})"]
    if record.error:
        lines.append(record.error)
    if event == "quarantine_over_warning":
        lines += [f"{name}: {entry.rejected_rows} rows quarantined ({', '.join(f'{n} {r}' for r, n in entry.rejects.items())})"
                  for name, entry in record.feeds.items() if entry.rejected_rows]
    summary = {key: getattr(record, key) for key in
               ("run_id", "command", "status", "started_at", "finished_at", "run_date", "error", "error_type")}
    return _masked({"text": "\n".join(lines), "event": event, "host": socket.gethostname(),
                    "run": {**summary, "feeds": feeds}})


def stale_payload(status: Status, names: list[str]) -> dict[str, Any]:
    stale = [feed for feed in status.feeds if feed.feed in names]
    lines = [f"[listrak-feeds] stale feeds on {socket.gethostname()}: {', '.join(names)}"]
    for feed in stale:
        attempt = feed.last_attempt
        tried = f"; last attempt {attempt.run_id}: {attempt.status}" if attempt else ""
        lines.append(f"{feed.feed}: {feed.reason}{tried}")
    document = status.to_json()
    return _masked({"text": "\n".join(lines), "event": "stale", "host": socket.gethostname(),
                    "checked_at": status.checked_at, "feeds": [f for f in document["feeds"] if f["feed"] in names]})


def _masked(payload: dict[str, Any]) -> dict[str, Any]:
    # Error messages may quote values (an e-mail that failed a test): none reaches the chat.
    return json.loads(mask_emails(json.dumps(payload)))


def notify(settings: Settings, event: str, payload: dict[str, Any], environ: Mapping[str, str] | None = None) -> int:
    """Send one event to every webhook subscribed to it; how many accepted it. Never raises."""
    environ = os.environ if environ is None else environ
    sent = 0
    for hook in settings.notify:
        if event not in hook.events:
            continue
        try:
            sent += send(hook, environ.get(hook.url_env), event, payload)
        except Exception as exc:  # a webhook must never break the run that reports through it
            log.warning("notify: webhook $%s (%s) failed: %s", hook.url_env, event, type(exc).__name__)
    return sent


def send(hook: NotifySettings, url: str | None, event: str, payload: dict[str, Any]) -> bool:
    """POST the payload with a timeout, retrying errors and 5xx answers; log (without the URL) on failure."""
    if not url:
        log.warning("notify: %s is not set; the %s webhook was not sent", hook.url_env, event)
        return False
    if not url.lower().startswith(("http://", "https://")):
        log.warning("notify: %s does not hold an http(s) URL; the %s webhook was not sent", hook.url_env, event)
        return False
    body = json.dumps(payload).encode("utf-8")
    reason = "no attempt"
    for attempt in range(hook.retries + 1):
        if attempt:
            time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "listrak-feeds"},
        )
        try:
            with urllib.request.urlopen(request, timeout=hook.timeout) as response:
                response.read(65536)
            log.info("notify: %s sent to $%s", event, hook.url_env)
            return True
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                break  # the request itself is wrong: retrying will not help
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            cause = getattr(exc, "reason", exc)
            reason = "timed out" if isinstance(cause, TimeoutError) else str(cause) or type(cause).__name__
    log.warning("notify: the %s webhook ($%s) failed after %d attempts: %s", event, hook.url_env, attempt + 1, reason)
    return False


def notify_stale(settings: Settings, status: Status) -> list[str]:
    """Send `stale` for feeds that went stale since the last check; remember them. Returns those sent."""
    path = settings.resolve(settings.state_dir) / NOTIFIED_FILE
    try:
        before = set(json.loads(path.read_text(encoding="utf-8")).get("stale", []))
    except (OSError, ValueError, AttributeError):
        before = set()
    now = {feed.feed for feed in status.stale}
    new = [feed.feed for feed in status.feeds if feed.feed in now - before]
    if new:
        notify(settings, "stale", stale_payload(status, new))
    if now != before:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"stale": sorted(now)}), encoding="utf-8")
        os.replace(temporary, path)
    return new

