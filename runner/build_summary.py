"""What a `dbt build` did, as plain values: counts per status, the tests and models that failed or
warned (with the line of dbt's message that says what is wrong), or the error that stopped dbt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.warehouse.messages import first_line


@dataclass
class TestOutcome:
    """A data test that did not pass, or a model that failed to build."""

    name: str
    resource_type: str
    status: str  # fail | error | warn
    model: str | None = None
    column: str | None = None
    failures: int | None = None
    message: str | None = None

    def describe(self) -> str:
        where = self.model or "?"
        if self.column:
            where += f".{self.column}"
        rows = f", {self.failures} failing rows" if self.failures else ""
        if self.resource_type == "test":
            return f"{self.status.upper()} {self.name} on {where}{rows}"
        return f"{self.status.upper()} {self.resource_type} {self.name}: {_essence(self.message)}"


@dataclass
class BuildSummary:
    """What `dbt build` did."""

    success: bool
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[TestOutcome] = field(default_factory=list)
    warnings: list[TestOutcome] = field(default_factory=list)
    error: str | None = None
    #: Nodes run by resource type: model, seed, test, unit_test.
    resource_types: dict[str, int] = field(default_factory=dict)
    #: Models dbt built successfully (their tables hold this build's rows).
    built: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "resource_types": self.resource_types,
            "failures": [vars(item) for item in self.failures],
            "warnings": [vars(item) for item in self.warnings],
            "error": self.error,
        }


def summarize(result: Any, seconds: float) -> BuildSummary:
    """Turn a dbtRunnerResult into plain values: counts, failures and warnings."""
    if result.exception is not None or result.result is None:
        return BuildSummary(False, seconds, error=exception_text(result.exception))
    counts: dict[str, int] = {}
    resource_types: dict[str, int] = {}
    failures: list[TestOutcome] = []
    warnings: list[TestOutcome] = []
    built: list[str] = []
    for item in result.result.results:
        status = str(getattr(item.status, "value", item.status))
        counts[status] = counts.get(status, 0) + 1
        kind = str(getattr(item.node.resource_type, "value", item.node.resource_type))
        if kind == "model" and status == "success":
            built.append(item.node.name)
        resource_types[kind] = resource_types.get(kind, 0) + 1
        if status in ("pass", "success", "skipped", "skip"):
            continue
        outcome = _outcome(item, status)
        (warnings if status == "warn" else failures).append(outcome)
    return BuildSummary(
        result.success and not failures, seconds, counts, failures, warnings, None, resource_types, built
    )


def _outcome(item: Any, status: str) -> TestOutcome:
    node = item.node
    model = column = None
    if node.resource_type == "test":
        attached = getattr(node, "attached_node", None)
        model = attached.split(".")[-1] if attached else None
        column = getattr(node, "column_name", None)
    else:
        model = node.name
    return TestOutcome(
        name=node.name,
        resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
        status=status,
        model=model,
        column=column,
        failures=getattr(item, "failures", None),
        message=(item.message or None),
    )


def _essence(message: str | None) -> str:
    """The line of a dbt error that says what is wrong (dbt's first line only says where)."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].split(" in ")[0].endswith("Error"):
        return lines[1]
    return lines[0] if lines else "no message"


def exception_text(exception: BaseException | None) -> str:
    """The line of an exception dbt raised or returned that says what is wrong, for a one-line message."""
    if exception is None:
        return "dbt reported a failure without details; see the dbt log"
    # dbt nests its reasons under bare headings ("Runtime Error", then "Compilation Error").
    return first_line(exception)
