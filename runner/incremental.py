"""Incremental builds: which of the models updated in place (macros/incremental.sql, tag
feeds_incremental) a build may update, which it must rebuild whole, and the record of that.

A model is rebuilt whole when asked (--full-refresh), when this state has no fingerprint of its
last build on this warehouse (first build, state lost), when its definition changed since: its
fingerprint covers its SQL and config and those of every node upstream of it (sources' declared
columns included), the macros they call, and dbt_project.yml (vars), so a changed model, macro or
upstream schema is detected rather than remembered; and when most of its change rows are new
(CATCH_UP_SHARE), as right after an initial sync, where recomputing every entity one by one costs
more than a full build and may not fit in memory. The fingerprints of the models a build completed
are kept in <state_dir>/incremental.json, per warehouse.

Only the models the build selects are planned. A model rebuilt whole while others stay incremental
has its table dropped before the one `dbt build`, which then creates it whole in its place in the
DAG: after the incremental models upstream of it have taken this sync's rows, before those
downstream read it. (`dbt build +model --full-refresh` would rebuild the upstream ones whole too,
and `--select model --full-refresh` first would read them before they are up to date.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

TAG = "feeds_incremental"
STATE_FILE = "incremental.json"
#: A model whose change views have more than this share of their rows synced after its bound (its
#: newest synced_watermark minus var incremental_lookback_hours) is rebuilt whole. A regular sync
#: between two runs brings well under 1% of a store (README "Incremental builds"); an initial sync,
#: or `feeds demo-data`, brings all of it. Recomputing every entity through the incremental path
#: took 1.9x the full build at 1M demo orders and ran out of memory on the run after, so the break-even
#: is near half the store; a fifth leaves room for the memory the incremental path's key lists take.
CATCH_UP_SHARE = 0.2
#: macros/incremental.sql's default for var incremental_lookback_hours.
DEFAULT_LOOKBACK_HOURS = 3

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
    #: Models whose table is dropped before an otherwise incremental build, so dbt builds them whole.
    rebuild: list[str] = field(default_factory=list)
    #: How the build's data tests read their models (runner.test_scope), once decided.
    test_scope: Any = None
    #: Views this build leaves as they are (keep_views), by name.
    kept: list[str] = field(default_factory=list)
    #: Per change view (its relation), the earliest bound of the incremental models that read it
    #: (check_catch_up): the rows after it are those this build recomputes.
    change_bounds: dict[str, Any] = field(default_factory=dict)
    #: The tests the feeds_row_rules tests cover in this build (runner.test_batch.Batch), once decided.
    row_rules: Any = None

    def record(self, built: list[str]) -> dict[str, dict[str, str]]:
        """For the run record: the mode (and why full) of each such model the build completed."""
        return {
            name: {"mode": self.modes[name], **({"reason": self.reasons[name]} if name in self.reasons else {})}
            for name in sorted(built) if name in self.modes
        }


def plan(manifest: dict[str, Any], project_dir: Path, state_dir: Path, warehouse: str, full_refresh: bool,
         selected: set[str] | None = None) -> RefreshPlan:
    """How the next build runs each incremental model of `manifest` (a manifest.json) on `warehouse`
    that it selects (`selected`, model names; None: all), by fingerprint. check_catch_up() may then
    rebuild more of them whole, and settle() decides between dropping tables and --full-refresh."""
    known = _load(state_dir).get(warehouse, {})
    project = _project_text(project_dir)
    result = RefreshPlan(full_refresh=full_refresh)
    for uid, node in _models(manifest, selected).items():
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
        _rebuild(result, name, reason, node["config"].get("materialized") == "incremental" and not full_refresh)
    return result


def settle(refresh: RefreshPlan, manifest: dict[str, Any], selected: set[str] | None) -> None:
    """When every selected incremental model is to be rebuilt, one build with --full-refresh does it."""
    capable = [node["name"] for node in _models(manifest, selected).values()
               if node["config"].get("materialized") == "incremental"]
    if refresh.rebuild and len(refresh.rebuild) == len(capable):
        refresh.full_refresh, refresh.rebuild = True, []


def check_catch_up(refresh: RefreshPlan, manifest: dict[str, Any], lookback_hours: float, query: Any) -> None:
    """Rebuild whole the incremental models most of whose change rows were synced after their bound
    (CATCH_UP_SHARE), as an incremental build would recompute nearly all of them one by one. Reads each
    model's newest synced_watermark, then counts each change view (int_*_changes_conformed, read by
    macro feeds_changes) once. `query` runs SQL on the warehouse (runner.warehouse.changes.session)."""
    from runner.warehouse import changes
    from runner.warehouse.changes import QueryFailed

    models_by_id = _models(manifest, set(refresh.modes))
    models = {node["name"]: node for node in models_by_id.values() if refresh.modes[node["name"]] == INCREMENTAL}
    bounds: dict[str, Any] = {}
    for name, node in models.items():
        views = _change_views(manifest, node)
        if not views:
            continue
        try:
            newest = changes.newest_watermark(query, _relation(node))
        except QueryFailed as exc:
            # dbt builds a model whole whose table is gone; say so (and why) rather than "incremental".
            _rebuild(refresh, name, f"its table could not be read ({exc})", True)
            continue
        if newest is not None:
            bounds[name] = newest - timedelta(hours=lookback_hours)
        else:  # empty: macro feeds_changed_after then reads every change row
            _rebuild(refresh, name, "its table is empty", True)
    per_view: dict[str, list[Any]] = {}
    for name, bound in bounds.items():
        for view in _change_views(manifest, models[name]):
            per_view.setdefault(view, [])
            if bound not in per_view[view]:
                per_view[view].append(bound)
    refresh.change_bounds = {view: min(view_bounds) for view, view_bounds in per_view.items()}
    counted: dict[str, tuple[int, dict[Any, int]]] = {}
    for view, view_bounds in per_view.items():
        try:
            total, after = changes.rows_synced_after(query, view, view_bounds)
        except QueryFailed:
            continue  # left to dbt, which fails on it with its own message if it is broken
        counted[view] = (total, dict(zip(view_bounds, after)))
    for name, bound in bounds.items():
        views = [counted[view] for view in _change_views(manifest, models[name]) if view in counted]
        total = sum(count for count, _ in views)
        new = sum(after[bound] for _, after in views)
        if total and new / total > CATCH_UP_SHARE:
            _rebuild(refresh, name, (
                f"{new / total:.0%} of its change rows were synced after its watermark minus incremental_lookback_hours"
                f" (over {CATCH_UP_SHARE:.0%}, as after an initial sync): rebuilt whole, which costs less"
            ), True)
    # A model downstream of one rebuilt whole (a mart of its candidates) would read every row as
    # rewritten and recompute it one by one: rebuilt whole as well.
    whole = {uid for uid, node in models_by_id.items() if refresh.modes.get(node["name"]) == FULL}
    for uid, node in models_by_id.items():
        if refresh.modes.get(node["name"]) == INCREMENTAL:
            upstream = sorted(manifest["nodes"][other]["name"] for other in _ancestors(manifest, uid) & whole)
            if upstream:
                _rebuild(refresh, node["name"], f"downstream of {', '.join(upstream)}, rebuilt whole", True)


def _views(manifest: dict[str, Any], selected: set[str] | None) -> dict[str, Any]:
    """The view models of the manifest, those in `selected` only when given."""
    return {uid: node for uid, node in manifest["nodes"].items()
            if node["resource_type"] == "model" and node["config"].get("materialized") == "view"
            and (selected is None or node["name"] in selected)}


def _view_key(name: str) -> str:
    """A view's entry in the state (beside the incremental models', which are keyed by bare name)."""
    return "view " + name


@dataclass(frozen=True)
class ViewFacts:
    """What a view's SQL follows from on the warehouse, beyond the project."""

    #: The tables and columns of the schemas the sources live in: staging selects the columns a raw
    #: table has when it compiles (macro shopify_source_select), so a new column is a new view.
    sources: str
    #: Each view's definition as the warehouse holds it, by (schema, name) lower-cased; absent: no view.
    definitions: dict[tuple[str, str], str | None]


def view_facts(query: Any, manifest: dict[str, Any], views: dict[str, Any]) -> ViewFacts:
    """Read ViewFacts on the warehouse (`query`: runner.warehouse.changes.session)."""
    from runner.warehouse.sql import literal

    source_schemas = sorted({str(source["schema"]).lower() for source in (manifest.get("sources") or {}).values()})
    view_schemas = sorted({str(node["schema"]).lower() for node in views.values()})
    digest = hashlib.sha256()
    if source_schemas:
        rows = query(
            "select lower(table_schema), lower(table_name), lower(column_name), lower(data_type) "
            "from information_schema.columns where table_catalog = current_database() "
            f"and lower(table_schema) in ({', '.join(literal(name) for name in source_schemas)}) order by 1, 2, 3"
        )
        digest.update(json.dumps([list(row) for row in rows], default=str).encode())
    definitions: dict[tuple[str, str], str | None] = {}
    if view_schemas:
        for schema, name, definition in query(
            "select lower(table_schema), lower(table_name), view_definition from information_schema.views "
            "where table_catalog = current_database() "
            f"and lower(table_schema) in ({', '.join(literal(name) for name in view_schemas)})"
        ):
            definitions[(schema, name)] = definition
    return ViewFacts(digest.hexdigest(), definitions)


def view_fingerprint(manifest: dict[str, Any], unique_id: str, project: str, facts: ViewFacts) -> str | None:
    """A view's fingerprint: its definition and its upstream's (fingerprint()), the source schemas'
    columns, and the view as the warehouse holds it (so a view dropped or replaced outside the runner
    is not taken for the one it built). None when the view is not there to keep, or its definition
    cannot be read (PostgreSQL shows it to the view's owner only)."""
    node = manifest["nodes"][unique_id]
    held = facts.definitions.get((str(node["schema"]).lower(), str(node.get("alias") or node["name"]).lower()))
    if held is None:
        return None
    return hashlib.sha256(json.dumps([fingerprint(manifest, unique_id, project), facts.sources, held]).encode()).hexdigest()


def keep_views(refresh: RefreshPlan, manifest: dict[str, Any], views: dict[str, Any], known: dict[str, str],
               project: str, facts: ViewFacts, nodes: list[tuple[str, str, str]]) -> list[str]:
    """The views of `views` this build may leave as they are: each one exists as the runner last built
    it (view_fingerprint() unchanged) and nothing upstream of it is rebuilt in this build (a view
    rebuilt or not kept, a table or seed, an incremental model rebuilt whole: PostgreSQL drops the views
    on a table it replaces). Re-creating an unchanged view changes nothing but costs dbt's work per
    node; its data tests still run. `nodes`: what the build selects (DbtProject.buildable_nodes)."""
    if refresh.full_refresh:
        return []
    in_place = {uid for uid, node in _models(manifest, None).items() if refresh.modes.get(node["name"]) == INCREMENTAL}
    candidates = {uid for uid, node in views.items()
                  if known.get(_view_key(node["name"])) is not None
                  and known.get(_view_key(node["name"])) == view_fingerprint(manifest, uid, project, facts)}
    rebuilt = {uid for uid, kind, _ in nodes if kind in ("model", "seed", "snapshot")
               and uid not in candidates and uid not in in_place}
    changed = True
    while changed:
        changed = False
        for uid in sorted(candidates):
            if _ancestors(manifest, uid) & rebuilt:
                candidates.discard(uid)
                rebuilt.add(uid)
                changed = True
    return sorted(manifest["nodes"][uid]["name"] for uid in candidates)


def remember_views(state_dir: Path, warehouse: str, manifest: dict[str, Any], views: dict[str, Any],
                   built: list[str], project: str, facts: ViewFacts) -> None:
    """Keep the fingerprints of the views a build (re)created, with `facts` read after it but the
    source columns read before it (what the views were compiled from)."""
    _store(state_dir, warehouse, {_view_key(node["name"]): view_fingerprint(manifest, uid, project, facts)
                                  for uid, node in views.items() if node["name"] in built})


def lookback_hours(project_dir: Path, project_vars: dict[str, Any]) -> float:
    """var incremental_lookback_hours as dbt resolves it for this project: --vars, then dbt_project.yml
    (global, or under the project's name), then the macro's default."""
    if "incremental_lookback_hours" in project_vars:
        return float(project_vars["incremental_lookback_hours"])
    try:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return DEFAULT_LOOKBACK_HOURS
    variables = project.get("vars") or {}
    scoped = variables.get(project.get("name")) or {}
    value = scoped.get("incremental_lookback_hours", variables.get("incremental_lookback_hours"))
    try:
        # As the macro reads it (`| int`).
        return float(int(value)) if value is not None else DEFAULT_LOOKBACK_HOURS
    except (TypeError, ValueError):
        return DEFAULT_LOOKBACK_HOURS


def _rebuild(refresh: RefreshPlan, name: str, reason: str, drop: bool) -> None:
    refresh.modes[name], refresh.reasons[name] = FULL, reason
    if drop and name not in refresh.rebuild:
        refresh.rebuild.append(name)


def _models(manifest: dict[str, Any], selected: set[str] | None) -> dict[str, Any]:
    """The incremental-tagged models of the manifest, those in `selected` only when given."""
    return {uid: node for uid, node in manifest["nodes"].items()
            if node["resource_type"] == "model" and TAG in (node["config"].get("tags") or [])
            and (selected is None or node["name"] in selected)}


#: How an incremental model reads a change view: {{ feeds_changes(ref('int_order_changes_conformed')) }}
_FEEDS_CHANGES = re.compile(r"""feeds_changes\(\s*ref\(\s*['"]([^'"]+)['"]\s*\)""")


def _change_views(manifest: dict[str, Any], node: dict[str, Any]) -> list[str]:
    """The relations of the change views a model reads through macro feeds_changes."""
    by_name = {other["name"]: other for other in manifest["nodes"].values() if other["resource_type"] == "model"}
    names = dict.fromkeys(_FEEDS_CHANGES.findall(node.get("raw_code") or ""))
    return [_relation(by_name[name]) for name in names if name in by_name]


def _relation(node: dict[str, Any]) -> str:
    from runner.warehouse.sql import relation

    return relation(node["schema"], node.get("alias") or node["name"])


def remember(state_dir: Path, warehouse: str, refresh: RefreshPlan, built: list[str]) -> None:
    """Keep the fingerprints of the incremental models a build completed (written atomically)."""
    _store(state_dir, warehouse, {name: refresh.fingerprints[name] for name in built if name in refresh.fingerprints})


def _store(state_dir: Path, warehouse: str, completed: dict[str, str | None]) -> None:
    """Merge fingerprints into the warehouse's entries; None drops an entry (nothing to trust)."""
    if not completed:
        return
    state = _load(state_dir)
    merged = {**state.get(warehouse, {}), **completed}
    state[warehouse] = {key: value for key, value in merged.items() if value is not None}
    _save(state_dir, state)


def _unremember(state_dir: Path, warehouse: str, names: list[str]) -> None:
    """Drop the fingerprints of models whose tables are about to go: a build that stops before it
    recreates them leaves no record, so the next one rebuilds them whole."""
    state = _load(state_dir)
    kept = {name: value for name, value in state.get(warehouse, {}).items() if name not in names}
    if kept != state.get(warehouse, {}):
        _save(state_dir, {**state, warehouse: kept})


def _save(state_dir: Path, state: dict[str, Any]) -> None:
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
    """The nodes upstream of `unique_id` that its rows follow from. A model's parents named in its
    meta `feeds_built_after` are left out (with what is upstream only through them): dbt builds
    them first (a `-- depends_on:` ref), but the model reads nothing of them."""
    parents: dict[str, list[str]] = manifest.get("parent_map") or {}
    nodes: dict[str, Any] = manifest.get("nodes") or {}

    def read_by(node_id: str) -> list[str]:
        meta = ((nodes.get(node_id) or {}).get("config") or {}).get("meta") or {}
        after = set(meta.get("feeds_built_after") or [])
        return [parent for parent in parents.get(node_id, []) if (nodes.get(parent) or {}).get("name") not in after]

    seen: set[str] = set()
    pending = read_by(unique_id)
    while pending:
        node_id = pending.pop()
        if node_id not in seen:
            seen.add(node_id)
            pending.extend(read_by(node_id))
    return seen


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
    if kept != state:
        _save(state_dir, kept)


def warehouse_key(target: Any, duckdb_path: Path) -> str:
    """Which warehouse the models live in, never with a secret: the DuckDB file, or the target."""
    if target is None or target.embedded:
        return f"duckdb {duckdb_path.resolve()}"
    return str(target.describe())


def build(project: Any, select: list[str], state_dir: Path, target: Any, full_refresh: bool,
          **options: Any) -> tuple[Any, RefreshPlan]:
    """`dbt build` of `select` on a runner.build.DbtProject, on `target` (runner.warehouse.target; None:
    the DuckDB file), each incremental model run incrementally or rebuilt whole as plan() and
    check_catch_up() say, its data tests scoped as runner.test_scope decides; returns the
    BuildSummary and the plan."""
    from runner import test_batch, test_scope  # test_scope reads this module's macro closure
    from runner.warehouse import changes

    project.parse()
    manifest = json.loads((project.target_dir / "manifest.json").read_text(encoding="utf-8"))
    # The vars feeds passes (shopify_api and its table names, detected from the raw tables) choose
    # what staging reads: a change of them is a change of every model's definition.
    warehouse = f"{warehouse_key(target, project.duckdb_path)} {json.dumps(project.vars(), sort_keys=True)}"
    selected = set(project.models(select))
    refresh = plan(manifest, project.project_dir, state_dir, warehouse, full_refresh, selected)
    if INCREMENTAL in refresh.modes.values():
        with changes.session(target, project.duckdb_path) as query:
            check_catch_up(refresh, manifest, lookback_hours(project.project_dir, project.vars()), query)
    settle(refresh, manifest, selected)
    scope = refresh.test_scope = replace(
        test_scope.decide(manifest, project.project_dir, state_dir, warehouse, select, refresh.full_refresh),
        whole=tuple(sorted(refresh.rebuild)))
    test_scope.begin(state_dir, warehouse, scope, select)
    # Views: kept as they are when unchanged, on the warehouses the runner can read (not Spark) and
    # in builds without unit tests (feeds run), whose nodes dbt selects one by one.
    views = _views(manifest, selected) if target is None or target.embedded or target.engine == "postgres" else {}
    project_text = _project_text(project.project_dir)
    facts = None
    nodes = None
    kept: set[str] = set()
    if views:
        try:
            with changes.session(target, project.duckdb_path) as query:
                facts = view_facts(query, manifest, views)
        except changes.QueryFailed:
            views = {}  # not readable: every view is re-created, as dbt does by itself
    if views:
        known = _load(state_dir).get(warehouse, {})
        if options.get("unit_tests", True) is False and any(known.get(_view_key(node["name"])) for node in views.values()):
            nodes = project.buildable_nodes(select)
            refresh.kept = keep_views(refresh, manifest, views, known, project_text, facts, nodes)
            kept = {uid for uid, node in views.items() if node["name"] in refresh.kept}
    # The tests a feeds_row_rules test covers leave the build (runner.test_batch).
    if nodes is None:
        nodes = project.buildable_nodes(select)
    batch = refresh.row_rules = test_batch.plan(manifest, nodes)
    exact, exclude = None, batch.exclude()
    if options.get("unit_tests", True) is False and (kept or exclude):
        # The nodes that run, named one by one (dbt's indirect selection off), without the kept
        # views and the covered tests. Named rather than excluded: dbt expands each --exclude
        # selector through its indirect selection, and some 120 of them cost its node selection
        # 0.3 s against 0.16 s for naming the 110 nodes that run (it matches every selector
        # against every node). A build with unit tests (feeds build) excludes: they are selected
        # only indirectly, through their models.
        exact = [selector for uid, _, selector in nodes if uid not in kept and uid not in batch.covered]
        exclude = []
    if scope.changed_only and refresh.kept and not refresh.rebuild and not refresh.full_refresh:
        with changes.session(target, project.duckdb_path) as query:
            scope = refresh.test_scope = replace(scope, views=test_scope.view_keys(
                manifest, refresh.kept, refresh.change_bounds, query))
    if refresh.rebuild:
        _unremember(state_dir, warehouse, refresh.rebuild)
        nodes_by_name = {node["name"]: node for node in _models(manifest, set(refresh.rebuild)).values()}
        with changes.session(target, project.duckdb_path) as query:
            for name in refresh.rebuild:
                changes.drop_table(query, _relation(nodes_by_name[name]))
    test_vars = {**scope.vars(), **batch.vars()}
    summary = project.build(select, full_refresh=refresh.full_refresh, extra_vars=test_vars, exact=exact,
                            exclude=exclude, **options)
    summary = test_batch.rerun_failed(project, batch, summary, test_vars, **options)
    remember(state_dir, warehouse, refresh, summary.built)
    if facts is not None and any(node["name"] in summary.built for node in views.values()):
        try:
            with changes.session(target, project.duckdb_path) as query:
                after = view_facts(query, manifest, views)
        except changes.QueryFailed:
            after = ViewFacts(facts.sources, {})  # nothing remembered: the next build re-creates them
        remember_views(state_dir, warehouse, manifest, views, summary.built, project_text,
                       ViewFacts(facts.sources, after.definitions))
    test_scope.remember(state_dir, warehouse, manifest, scope, select, summary)
    return summary, refresh
