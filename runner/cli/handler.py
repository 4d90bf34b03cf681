"""The one place where errors become exit codes: every command runs inside `FeedsGroup.invoke`.

Exit codes (README): 0 success, 1 data tests failed (or a file failed validation/export), 2 usage
or configuration error, 3 delivery failed, 4 a safety gate refused (or the run lock, or a held file),
5 `feeds status` found a stale feed.
A command body raises runner.errors classes and never builds an exit code itself; the handler
prints the message (no traceback), the JSON document with --json, and the run's summary when the
error ended a recorded run.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from typer.core import TyperGroup

from runner.errors import (
    ConfigError,
    DataTestsFailed,
    DeliveryError,
    ExportError,
    FeedsError,
    GateRefused,
    ValidationFailed,
)
from runner.permissions import private_umask

#: The first matching class decides (subclasses before their bases).
EXIT_CODES: list[tuple[type[FeedsError], int]] = [
    (ConfigError, 2),
    (GateRefused, 4),
    (DeliveryError, 3),
    (DataTestsFailed, 1),
    (ExportError, 1),
    (ValidationFailed, 1),
    (FeedsError, 1),
]
INTERRUPTED = 130
#: `feeds status`: a feed was not delivered within its max_age (not an error of the command).
STALE = 5

#: Keys in the context's meta, which every nested context shares with the group's.
_JSON = "feeds.json"
_RECORDED = "feeds.recorded"


def exit_code_for(error: FeedsError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1


def remember_json(ctx: typer.Context, value: bool) -> bool:
    """Callback of every --json option: the handler answers in JSON too."""
    ctx.meta[_JSON] = value
    return value


def recording(ctx: typer.Context) -> None:
    """Called by a command as it starts the part that writes a run record: its errors then carry
    the record (summary table, or "run" in the JSON document; null if it ended before one)."""
    ctx.meta[_RECORDED] = True


class FeedsGroup(TyperGroup):
    """The `feeds` command group; runs each command under the umask 077 and handles its errors.

    The umask: a command's files (feed files, state, records, logs, and what DuckDB and dbt write)
    hold customer e-mails and are created owner-only.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            with private_umask():
                return super().invoke(ctx)
        except FeedsError as error:
            raise fail(error, ctx.meta.get(_JSON, False), ctx.meta.get(_RECORDED, False)) from None
        except KeyboardInterrupt:
            from runner.cli.render import err

            err().print("interrupted", style="bold red")
            raise typer.Exit(INTERRUPTED) from None


def fail(error: FeedsError, as_json: bool = False, recorded: bool = False) -> typer.Exit:
    """Report an error as the README says and return the exit to raise."""
    from runner.cli.render import err, out, summary_table

    code = exit_code_for(error)
    extra: dict[str, Any] = {}
    if recorded:
        record = error.run_record
        if record is not None and not as_json:
            out(stderr=True).print(summary_table(record))
        extra["run"] = record.to_json() if record is not None else None
    err().print(f"error: {error}", markup=False, style="bold red")
    if as_json:
        print(json.dumps({"ok": False, "exit_code": code, "error": str(error), "error_type": type(error).__name__, **extra}))
    return typer.Exit(code)
