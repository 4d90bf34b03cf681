"""Row rules run as one test a model (macros/generic_tests/feeds_row_rules.sql).

A model whose data_tests hold `feeds_row_rules` (the four marts and their rejects) gets one test
node that checks, in one query, the row rules its columns declare: not_null, max_length,
accepted_values, ... (fits() says which). dbt's own work is some 20 ms a test node, where such a
test's query takes 2-3 ms on an incremental build's rows, and the marts declare about a hundred of
them. A build the runner starts leaves the tests a feeds_row_rules test covers out of the build and
names them to it in var feeds_row_rules, so what one does not run the other checks. They stay
declared: they are the contract the rejects macros and the runner read, and `dbt build` by hand
runs them one by one (and the feeds_row_rules tests, which then cover the same rules by the macro's
own copy of fits()).

When a feeds_row_rules test fails or errors, rerun_failed() runs the tests it covers one by one and
reports those in its place, as a build without the batching would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from runner.test_scope import kinds_by_scope

#: The generic test (macros/generic_tests/feeds_row_rules.sql) and the var that lists what it covers.
TEST = "feeds_row_rules"
VAR = "feeds_row_rules"
#: An argument dbt renders or that reads beyond the row (a subquery, a ref, the clock): not covered.
_NOT_ROW_LOCAL = re.compile(r"(?i)\bselect\b|current_|\bnow\s*\(|localtime|\{[{%]|\b(ref|source|var|env_var)\s*\(")


@dataclass(frozen=True)
class Batch:
    """Which tests of a build the feeds_row_rules tests cover."""

    #: feeds_row_rules test name -> unique ids of the tests it covers (in the build's selection).
    members: dict[str, list[str]] = field(default_factory=dict)
    #: Covered test unique id -> (its name, its selector).
    covered: dict[str, tuple[str, str]] = field(default_factory=dict)

    def vars(self) -> dict[str, Any]:
        """The var that tells each feeds_row_rules test what it covers (none: no such test runs)."""
        return {VAR: self.members} if self.members else {}

    def exclude(self) -> list[str]:
        """The selectors of the covered tests, left out of the build."""
        return sorted(selector for _, selector in self.covered.values())

    def record(self) -> dict[str, int]:
        """For the run record: how many tests each feeds_row_rules test covered."""
        return {name: len(members) for name, members in sorted(self.members.items())}


def plan(manifest: dict[str, Any], nodes: list[tuple[str, str, str]]) -> Batch:
    """The Batch of a build that runs `nodes` ((unique_id, resource type, selector), as
    runner.build.DbtProject.buildable_nodes lists them): each feeds_row_rules test among them covers
    the tests among them on its model that fits() takes."""
    by_id: dict[str, Any] = manifest["nodes"]
    tests = {uid: selector for uid, kind, selector in nodes if kind == "test" and uid in by_id}
    rows = set(kinds_by_scope(manifest).get("rows") or [])
    owner: dict[str, str] = {}  # model unique id -> its feeds_row_rules test's name (the first by name)
    for uid in sorted(tests, key=lambda uid: by_id[uid]["name"]):
        node = by_id[uid]
        if _metadata(node).get("name") == TEST and not _metadata(node).get("namespace"):
            owner.setdefault(node.get("attached_node") or "", node["name"])
    members: dict[str, list[str]] = {name: [] for name in owner.values()}
    covered: dict[str, tuple[str, str]] = {}
    for uid, selector in sorted(tests.items()):
        node = by_id[uid]
        name = owner.get(node.get("attached_node") or "")
        if name is not None and fits(node, rows):
            members[name].append(uid)
            covered[uid] = (node["name"], selector)
    return Batch(members, covered)


def fits(node: dict[str, Any], rows: set[str]) -> bool:
    """Whether a feeds_row_rules test covers test `node`: a row-local generic test (a kind macro
    feeds_test_scope_kinds lists as "rows", so the scoped read of a feeds_row_rules test is sound for
    it) at error severity with dbt's default thresholds, no where, limit or stored failures, and no
    argument that dbt renders or that reads beyond the row. Macro feeds_row_rule_fits is its twin."""
    metadata = _metadata(node)
    config = node.get("config") or {}
    return (metadata.get("name") in rows and metadata.get("name") != TEST and not metadata.get("namespace")
            and str(config.get("severity") or "").upper() == "ERROR"
            and config.get("where") is None and config.get("limit") is None and not config.get("store_failures")
            and config.get("fail_calc", "count(*)") == "count(*)"
            and config.get("warn_if", "!= 0") == "!= 0" and config.get("error_if", "!= 0") == "!= 0"
            and not any(_NOT_ROW_LOCAL.search(str(value))
                        for name, value in (metadata.get("kwargs") or {}).items() if name != "model"))


def rerun_failed(project: Any, batch: Batch, summary: Any, extra_vars: dict[str, Any], **options: Any) -> Any:
    """`summary` (a runner.build_summary.BuildSummary), with each feeds_row_rules test that failed
    or errored replaced by the outcomes of the tests it covers, run again one by one (`dbt build`
    of those tests, with the build's vars, so they read the same rows). A feeds_row_rules test
    whose rules all pass on their own stays as it was: the failure is its own (its SQL)."""
    failed = [outcome.name for outcome in summary.failures if batch.members.get(outcome.name)]
    if not failed:
        return summary
    selectors = [batch.covered[uid][1] for name in failed for uid in batch.members[name]]
    again = project.build([], extra_vars=extra_vars, exact=selectors, write_results=False, **options)
    found = {outcome.name for outcome in again.failures}
    replaced = {name for name in failed if any(batch.covered[uid][0] in found for uid in batch.members[name])}
    if not replaced:
        return summary
    return replace(
        summary,
        success=False,
        seconds=summary.seconds + again.seconds,
        failures=[outcome for outcome in summary.failures if outcome.name not in replaced] + again.failures,
        counts=_added(summary.counts, again.counts),
        resource_types=_added(summary.resource_types, again.resource_types),
    )


def _metadata(node: dict[str, Any]) -> dict[str, Any]:
    return node.get("test_metadata") or {}


def _added(first: dict[str, int], second: dict[str, int]) -> dict[str, int]:
    return {key: first.get(key, 0) + second.get(key, 0) for key in {*first, *second}}
