"""Scoped data tests (macros/test_scope.sql): whether a build may test only what it can have changed.

With var feeds_test_scope = 'changed', the row-local and key tests of the incremental models read
the rows of the latest build (and the rows sharing their keys) instead of whole tables. That is
sound only if every other row passed those same tests before and has not changed since, so the
runner passes the var only when all of these hold:

  - the build is not a full refresh (then every row is new anyway);
  - the previous build recorded here, on the same warehouse, succeeded with no test failing and no
    scoped test warning (a row that failed or warned in build N must not pass unseen in build N+1
    because it was not rebuilt);
  - it built the same selection (a model built without its tests leaves rows nobody tested);
  - the tests are defined as they were then: each test's definition and config, the macros they
    call (this scoping included), the seeds they read, dbt_project.yml and the dbt version.

Otherwise, and for `dbt build` run by hand, every test reads whole tables. The outcome of each
build is kept in <state_dir>/test_scope.json, per warehouse (written atomically).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.incremental import _macro_closure, _project_text

VAR = "feeds_test_scope"
#: The models whose tests read whole tables in a scoped build: those rebuilt whole.
WHOLE_VAR = "feeds_test_whole"
CHANGED = "changed"
#: The kept views whose unique tests read the changed entities' rows, with those keys.
VIEWS_VAR = "feeds_test_scope_views"
#: The model meta that names a view's change view and key column.
VIEW_META = "feeds_test_scope"
#: At most this many changed keys a view (as macro feeds_changed_keys lists them): more, and its
#: tests read the whole view.
MAX_VIEW_KEYS = 20000
STATE_FILE = "test_scope.json"
#: The macro (macros/test_scope.sql) that lists the tests scoped, by kind.
KINDS_MACRO = "feeds_test_scope_kinds"


@dataclass(frozen=True)
class Scope:
    """How this build's data tests read their models, and why."""

    changed_only: bool
    reason: str
    fingerprint: str
    #: Models this build rebuilds whole (runner.incremental): their tests read the whole table even
    #: when the others' are scoped. Every row is new anyway, and a key test's scoped form (the keys
    #: found among the newest rows) would hold all of them at once: at 10M orders, the order items'
    #: unique test ran out of the 500MB cap that way where the whole-table test fits.
    whole: tuple[str, ...] = ()
    #: Kept views whose unique tests read the rows of changed entities only (view_keys()):
    #: name -> {"column": the view's key column, "keys": the changed entities' keys}.
    views: dict[str, dict[str, Any]] = field(default_factory=dict)

    def vars(self) -> dict[str, Any]:
        """The dbt vars that switch the scope on (none when tests read whole tables)."""
        if not self.changed_only:
            return {}
        return {VAR: CHANGED, **({WHOLE_VAR: list(self.whole)} if self.whole else {}),
                **({VIEWS_VAR: self.views} if self.views else {})}

    def record(self) -> dict[str, Any]:
        """For the run record."""
        record: dict[str, Any] = {"tests": "changed rows" if self.changed_only else "whole tables", "reason": self.reason}
        if self.changed_only and self.whole:
            record["whole_tables_of"] = list(self.whole)
        if self.changed_only and self.views:
            record["views_by_changed_keys"] = {name: len(view["keys"]) for name, view in sorted(self.views.items())}
        return record


def decide(manifest: dict[str, Any], project_dir: Path, state_dir: Path, warehouse: str,
           selection: list[str], full_refresh: bool) -> Scope:
    """Whether the next build on `warehouse` of `selection` may scope its tests (see the module)."""
    digest = fingerprint(manifest, project_dir)
    previous = _load(state_dir).get(warehouse)
    if full_refresh:
        return Scope(False, "full refresh", digest)
    if not isinstance(previous, dict):
        return Scope(False, "no record of a previous build on this warehouse", digest)
    if not previous.get("clean"):
        return Scope(False, "the previous build did not pass every test", digest)
    if previous.get("selection") != sorted(selection):
        return Scope(False, "the previous build built another selection", digest)
    if previous.get("fingerprint") != digest:
        return Scope(False, "tests, macros or seeds changed since the previous build", digest)
    return Scope(True, "the previous build passed every test", digest)


def view_keys(manifest: dict[str, Any], kept: list[str], change_bounds: dict[str, Any],
              query: Any) -> dict[str, dict[str, Any]]:
    """For each view of `kept` (unchanged, not re-created by this build) with a `unique` test and a
    config.meta.feeds_test_scope ({changes: <change view>, key: <column>}): the keys of the entities
    its change view holds rows of synced after `change_bounds` (check_catch_up: what the incremental
    models recompute), read once per change view and key (`query`: runner.warehouse.changes.session).
    A view whose change view no incremental model reads this build, or with more than
    MAX_VIEW_KEYS keys, is left out: its tests read it whole."""
    from runner.incremental import _relation
    from runner.warehouse.changes import QueryFailed, keys_synced_after

    nodes: dict[str, Any] = manifest["nodes"]
    models = {node["name"]: node for node in nodes.values() if node["resource_type"] == "model"}
    tested = {nodes[node["attached_node"]]["name"] for node in nodes.values()
              if node["resource_type"] == "test" and (node.get("test_metadata") or {}).get("name") == "unique"
              and node.get("attached_node") in nodes}
    found: dict[tuple[str, str], list[Any] | None] = {}
    views: dict[str, dict[str, Any]] = {}
    for name in kept:
        meta = ((models.get(name) or {}).get("config", {}).get("meta") or {}).get(VIEW_META)
        if name not in tested or not isinstance(meta, dict) or meta.get("changes") not in models or not meta.get("key"):
            continue
        relation = _relation(models[meta["changes"]])
        bound = change_bounds.get(relation)
        if bound is None:
            continue
        key = str(meta["key"])
        if (relation, key) not in found:
            try:
                found[(relation, key)] = keys_synced_after(query, relation, key, bound, MAX_VIEW_KEYS)
            except QueryFailed:
                found[(relation, key)] = None
        keys = found[(relation, key)]
        if keys is not None:
            views[name] = {"column": key, "keys": keys}
    return views


def begin(state_dir: Path, warehouse: str, scope: Scope, selection: list[str]) -> None:
    """Mark a build as started: should it stop half way (killed, crashed), the rows it wrote are
    untested, and the next build must test whole tables."""
    _write(state_dir, warehouse, {"clean": False, "selection": sorted(selection), "fingerprint": scope.fingerprint})


def remember(state_dir: Path, warehouse: str, manifest: dict[str, Any], scope: Scope, selection: list[str],
             summary: Any) -> None:
    """Keep whether the build (a runner.build_summary.BuildSummary) passed every test it ran."""
    scoped = scoped_tests(manifest)
    clean = bool(summary.success) and not summary.failures and not any(
        warning.name in scoped for warning in summary.warnings)
    _write(state_dir, warehouse, {"clean": clean, "selection": sorted(selection), "fingerprint": scope.fingerprint})


def _write(state_dir: Path, warehouse: str, entry: dict[str, Any]) -> None:
    state = _load(state_dir)
    state[warehouse] = entry
    path = state_dir / STATE_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)


def scoped_tests(manifest: dict[str, Any]) -> set[str]:
    """Names of the tests the vars scope: generic tests of a kind feeds_test_scope_kinds lists, on a
    model materialized incremental with strategy feeds_replace, and unique tests on a model with
    config.meta.feeds_test_scope (view_keys())."""
    kinds = test_kinds(manifest)
    names = set()
    nodes: dict[str, Any] = manifest["nodes"]
    for node in nodes.values():
        metadata = node.get("test_metadata")
        if node["resource_type"] != "test" or not metadata or metadata.get("name") not in kinds:
            continue
        tested = nodes.get(node.get("attached_node") or "") or {}
        config = tested.get("config") or {}
        if config.get("materialized") == "incremental" and config.get("incremental_strategy") == "feeds_replace":
            names.add(node["name"])
        elif metadata.get("name") == "unique" and isinstance((config.get("meta") or {}).get(VIEW_META), dict):
            names.add(node["name"])  # view_keys() may scope it
    return names


def test_kinds(manifest: dict[str, Any]) -> set[str]:
    """Every test name macro feeds_test_scope_kinds returns."""
    return {name for names in kinds_by_scope(manifest).values() for name in names}


def kinds_by_scope(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """What macro feeds_test_scope_kinds returns (its dict literal is Python's too): the test names
    scoped as row-local ("rows") and as key tests ("keys")."""
    for macro in (manifest.get("macros") or {}).values():
        if macro.get("name") != KINDS_MACRO:
            continue
        found = re.search(r"return\((\{.*?\})\)", macro.get("macro_sql") or "", re.DOTALL)
        if found:
            return ast.literal_eval(found.group(1))
    return {}


def fingerprint(manifest: dict[str, Any], project_dir: Path) -> str:
    """A digest of what the tests' verdicts follow from, besides the rows: every test's definition
    and config, the macros they call, the seeds (lookup tables), dbt_project.yml, the dbt version."""
    digest = hashlib.sha256(_project_text(project_dir).encode())
    digest.update(str((manifest.get("metadata") or {}).get("dbt_version")).encode())
    macros: set[str] = set()
    for node_id, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] == "seed":
            digest.update(json.dumps([node_id, node.get("checksum"), node.get("config")], sort_keys=True,
                                     default=str).encode())
        elif node["resource_type"] == "test":
            definition = [node_id, node.get("raw_code"), node.get("test_metadata"), node.get("config"),
                          node.get("column_name"), (node.get("depends_on") or {}).get("nodes")]
            digest.update(json.dumps(definition, sort_keys=True, default=str).encode())
            macros.update((node.get("depends_on") or {}).get("macros") or [])
    for macro in (manifest.get("macros") or {}).values():
        if macro.get("name") in ("get_where_subquery", KINDS_MACRO):
            macros.add(macro["unique_id"])
    for macro_id in sorted(_macro_closure(manifest, macros)):
        digest.update(macro_id.encode() + manifest["macros"][macro_id].get("macro_sql", "").encode())
    return digest.hexdigest()


def _load(state_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: tests read whole tables, which is safe
    return state if isinstance(state, dict) else {}
