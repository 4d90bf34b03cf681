"""A driver's or dbt's error as one line a user can read, with the warehouse's secret masked: the one
place runner.warehouse.target (dbt adapters) and runner.warehouse.postgres (psycopg2) word them."""

from __future__ import annotations

from typing import Any

_DBT_HEADINGS = ("Runtime Error", "Database Error", "Compilation Error", "Parsing Error")


def first_line(exc: BaseException) -> str:
    """The error's message without dbt's headings, on one line: dbt nests the reason under a first
    line that ends in a bare heading ("... target "spark" invalid: Runtime Error" / "thrift ...
    requires PyHive"); a driver's message is its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and line.strip() not in _DBT_HEADINGS]
    if not lines:
        return type(exc).__name__
    heading = next((heading for heading in _DBT_HEADINGS if lines[0].endswith(": " + heading)), None)
    if heading is None or len(lines) == 1:
        return lines[0]
    return lines[0][: -len(heading)] + " ".join(lines[1:])


def scrub(text: str, credentials: Any) -> str:
    """`text` with the credentials' password (or token) replaced by ***."""
    secret = getattr(credentials, "password", None) or getattr(credentials, "token", None)
    return text.replace(secret, "***") if secret else text
