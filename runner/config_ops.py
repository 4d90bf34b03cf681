"""The operations keys of the configuration (`max_age`, `notify:`) and the number types every
settings model uses, apart so that config.py stays small.

Imported by runner.config, so it imports nothing of the runner.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads `true` as 1: `port: true` or `keep_runs: yes` is a mistake, not a number.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Count = Annotated[int, BeforeValidator(_not_bool)]
Number = Annotated[float, BeforeValidator(_not_bool)]

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_UNITS = (7 * 86400, 86400, 3600, 60, 1)


def duration_seconds(value: str) -> int:
    """`2h`, `90m`, `1d12h`, `45s` as seconds (max_age); ValueError naming the accepted form."""
    found = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if not found or not any(found.groups()):
        raise ValueError(f"{value!r} is not a duration; use a number with a unit: 30m, 2h, 1d, 1d12h")
    seconds = sum(int(part) * unit for part, unit in zip(found.groups(), _DURATION_UNITS) if part)
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


def check_duration(value: str | None) -> str | None:
    if value is not None:
        duration_seconds(value)
    return value


NOTIFY_EVENTS = ("failure", "gate_refused", "stale", "quarantine_over_warning", "recovered")


class NotifySettings(BaseModel):
    """One webhook in `notify:`; its URL is a secret, so only the name of the variable holding it is here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url_env: str = Field(description="environment variable holding the webhook URL")
    events: list[Literal["failure", "gate_refused", "stale", "quarantine_over_warning", "recovered"]] = Field(
        min_length=1
    )
    timeout: Number = Field(5.0, gt=0, le=60, description="seconds per attempt (connect and answer)")
    retries: Count = Field(2, ge=0, le=5, description="attempts after the first, on errors and 5xx answers")

    @field_validator("url_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be the name of an environment variable, e.g. FEEDS_SLACK_WEBHOOK (not the URL)")
        return value
