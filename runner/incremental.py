"""Incremental builds: which of the models updated in place (macros/incremental.sql, tag
feeds_incremental) a build may update, which it must rebuild whole, and the record of that.

A model is rebuilt whole when asked (--full-refresh), when this state has no fingerprint of its
last build on this warehouse (first build, state lost), and when its definition changed since: its
fingerprint covers its SQL and config and those of every node upstream of it (sources' declared
columns included), the macros they call, and dbt_project.yml (vars), so a changed model, macro or
upstream schema is detected rather than remembered. The fingerprints of the models a build
completed are kept in <state_dir>/incremental.json, per warehouse.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAG = "feeds_incremental"
STATE_FILE = "incremental.json"

INCREMENTAL = "incremental"
FULL = "full"


@dataclass
class RefreshPlan:
    """Per model: how this build runs it, why, and its fingerprint."""

    modes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    #: The whole build runs with dbt's --full-refresh.
    full_refresh: bool = False
    #: Models to rebuild whole (with what is upstream of them) before an incremental build.
    rebuild: list[str] = field(default_factory=list)
    #: How the build's data tests read their models (runner.test_scope), once decided.
    test_scope: Any = None

    def record(self, built: list[str]) -> dict[str, dict[str, str]]:
        """For the run record: the mode (and why full) of each such model the build completed."""
        return {
            name: {"mode": self.modes[name], **({"reason": self.reasons[name]} if name in self.reasons else {})}
            for name in sorted(built) if name in self.modes
        }


def plan(manifest: dict[str, Any], project_dir: Path, state_dir: Path, warehouse: str, full_refresh: bool) -> RefreshPlan:
    """How the next build runs each incremental model of `manifest` (a manifest.json) on `warehouse`."""
    known = _load(state_dir).get(warehouse, {})
    project = _project_text(project_dir)
    result = RefreshPlan(full_refresh=full_refresh)
    models = {uid: node for uid, node in manifest["nodes"].items()
              if node["resource_type"] == "model" and TAG in (node["config"].get("tags") or [])}
    for uid, node in models.items():
        name = node["name"]
        result.fingerprints[name] = fingerprint(manifest, uid, project)
        if node["config"].get("materialized") != "incremental":
            reason = f"rebuilt whole on this target ({node['config'].get('materialized')})"
        elif full_refresh:
            reason = "--full-refresh"
        elif name not in known:
            reason = "no record of its last build on this warehouse"
        elif known[name] != result.fingerprints[name]:
            reason = "definition changed since its last build"
        else:
            result.modes[name] = INCREMENTAL
            continue
        result.modes[name] = FULL
        result.reasons[name] = reason
        if node["config"].get("materialized") == "incremental" and not full_refresh:
            result.rebuild.append(name)
    capable = [node["name"] for node in models.values() if node["config"].get("materialized") == "incremental"]
    if result.rebuild and len(result.rebuild) == len(capable):
        # Every one of them: one build with --full-refresh does it.
        result.full_refresh, result.rebuild = True, []
    elif result.rebuild:
        # Rebuilding a model rebuilds the incremental models upstream of it too (dbt's +model).
        for uid, node in models.items():
            if node["name"] in result.modes and result.modes[node["name"]] == INCREMENTAL and any(
                uid in _ancestors(manifest, upstream) for upstream in _ids(models, result.rebuild)
            ):
                result.modes[node["name"]] = FULL
                result.reasons[node["name"]] = "upstream of a model rebuilt whole"
    return result


def remember(state_dir: Path, warehouse: str, refresh: RefreshPlan, built: list[str]) -> None:
    """Keep the fingerprints of the incremental models a build completed (written atomically)."""
    completed = {name: refresh.fingerprints[name] for name in built if name in refresh.fingerprints}
    if not completed:
        return
    state = _load(state_dir)
    state[warehouse] = {**state.get(warehouse, {}), **completed}
    path = state_dir / STATE_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)


def fingerprint(manifest: dict[str, Any], unique_id: str, project: str = "") -> str:
    """A digest of everything a model's rows follow from: its definition and its upstream's."""
    digest = hashlib.sha256(project.encode())
    macros: set[str] = set()
    for node_id in sorted(_ancestors(manifest, unique_id) | {unique_id}):
        node = manifest["nodes"].get(node_id) or manifest["sources"].get(node_id)
        if node is None:
            continue
        definition = {
            "id": node_id,
            "checksum": (node.get("checksum") or {}).get("checksum"),
            "config": node.get("config"),
            "columns": {name: column.get("data_type") for name, column in (node.get("columns") or {}).items()},
            # Where it is built and what it reads: another schema of the same warehouse (or another
            # shopify_schema) is another table, with its own history.
            "relation": node.get("relation_name"),
        }
        digest.update(json.dumps(definition, sort_keys=True, default=str).encode())
        macros.update((node.get("depends_on") or {}).get("macros") or [])
    for macro_id in sorted(_macro_closure(manifest, macros)):
        digest.update(macro_id.encode() + manifest["macros"][macro_id].get("macro_sql", "").encode())
    return digest.hexdigest()


def _macro_closure(manifest: dict[str, Any], start: set[str]) -> set[str]:
    """The macros called, directly or not, and the adapter implementations of dispatched ones."""
    macros: dict[str, Any] = manifest.get("macros") or {}
    by_name: dict[str, list[str]] = {}
    for macro_id, macro in macros.items():
        by_name.setdefault(macro["name"].split("__")[-1], []).append(macro_id)
    seen: set[str] = set()
    pending = list(start)
    while pending:
        macro_id = pending.pop()
        if macro_id in seen or macro_id not in macros:
            continue
        seen.add(macro_id)
        macro = macros[macro_id]
        pending.extend((macro.get("depends_on") or {}).get("macros") or [])
        # adapter.dispatch is invisible to dbt's dependency list: take default__x, duckdb__x, ...
        pending.extend(other for other in by_name.get(macro["name"], []) if other != macro_id)
    return seen


def _ancestors(manifest: dict[str, Any], unique_id: str) -> set[str]:
    parents: dict[str, list[str]] = manifest.get("parent_map") or {}
    seen: set[str] = set()
    pending = list(parents.get(unique_id, []))
    while pending:
        node_id = pending.pop()
        if node_id not in seen:
            seen.add(node_id)
            pending.extend(parents.get(node_id, []))
    return seen


def _ids(models: dict[str, Any], names: list[str]) -> list[str]:
    return [uid for uid, node in models.items() if node["name"] in names]


def _project_text(project_dir: Path) -> str:
    try:
        return (project_dir / "dbt_project.yml").read_text(encoding="utf-8")
    except OSError:
        return ""


def _load(state_dir: Path) -> dict[str, dict[str, str]]:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: every model is then rebuilt whole, which is safe
    return state if isinstance(state, dict) else {}


def forget(state_dir: Path, warehouse: str) -> None:
    """Drop the fingerprints kept for `warehouse` (all its vars): its raw tables were replaced wholesale
    (feeds demo-data), so rows may have vanished without a change row to say so, and only a full
    rebuild removes what they left in the incremental tables."""
    state = _load(state_dir)
    kept = {key: value for key, value in state.items() if key != warehouse and not key.startswith(warehouse + " ")}
    if kept == state:
        return
    path = state_dir / STATE_FILE
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(kept, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)


def warehouse_key(target: Any, duckdb_path: Path) -> str:
    """Which warehouse the models live in, never with a secret: the DuckDB file, or the target."""
    if target is None or target.embedded:
        return f"duckdb {duckdb_path.resolve()}"
    return str(target.describe())


def build(project: Any, select: list[str], state_dir: Path, warehouse: str, full_refresh: bool,
          **options: Any) -> tuple[Any, RefreshPlan]:
    """`dbt build` of `select` on a runner.build.DbtProject, each incremental model run incrementally
    or rebuilt whole as plan() says; returns the BuildSummary (with the rebuild's failure, if the
    rebuild failed) and the plan."""
    from runner import test_scope  # it reads this module's macro closure

    project.parse()
    manifest = json.loads((project.target_dir / "manifest.json").read_text(encoding="utf-8"))
    # The vars feeds passes (shopify_api and its table names, detected from the raw tables) choose
    # what staging reads: a change of them is a change of every model's definition.
    warehouse = f"{warehouse} {json.dumps(project.vars(), sort_keys=True)}"
    refresh = plan(manifest, project.project_dir, state_dir, warehouse, full_refresh)
    scope = refresh.test_scope = test_scope.decide(manifest, project.project_dir, state_dir, warehouse, select,
                                                   refresh.full_refresh)
    test_scope.begin(state_dir, warehouse, scope, select)
    if refresh.rebuild:
        first = project.build([f"+{name}" for name in refresh.rebuild], unit_tests=False, full_refresh=True)
        if not first.success:
            test_scope.remember(state_dir, warehouse, manifest, scope, select, first)
            return first, refresh
    summary = project.build(select, full_refresh=refresh.full_refresh, extra_vars=scope.vars(), **options)
    remember(state_dir, warehouse, refresh, summary.built)
    test_scope.remember(state_dir, warehouse, manifest, scope, select, summary)
    return summary, refresh
