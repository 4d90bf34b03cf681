"""The dbt step: parse the project, read the feed declarations, build and test through dbtRunner.

Only this module imports dbt. It hands plain values to the rest: `Feed` declarations and a
`BuildSummary` of what passed, warned and failed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from runner.build_summary import BuildSummary, _essence, exception_text, summarize
from runner.test_batch import TEST as ROW_RULES_TEST
from runner.errors import ConfigError
from runner.feed import Column, Feed, Rule
from runner.shopify_api import shopify_vars
from runner.warehouse.sql import relation

#: Called with (node name, resource type, status) as each dbt node finishes.
NodeCallback = Callable[[str, str, str], None]

FEED_META_KEY = "listrak_feed"
#: The dbt var profiles/profiles.yml reads the DuckDB file's path from.
DUCKDB_PATH_VAR = "feeds_duckdb_path"
#: In dbt's target folder: the answers of `dbt ls` for dbt's saved parse state (DbtProject._ls).
LS_CACHE = "feeds_ls.json"


class DbtProject:
    """One dbt project + profile + DuckDB file, driven in-process."""

    def __init__(
        self,
        project_dir: Path,
        duckdb_path: Path,
        target: str | None = None,
        profiles_dir: Path | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.project_dir = project_dir
        self.duckdb_path = duckdb_path
        self.target = target
        self.profiles_dir = profiles_dir or project_dir / "profiles"
        self.log_dir = log_dir
        # Where dbt writes manifest.json: DBT_TARGET_PATH as dbt's own CLI honours it, else target/.
        self.target_dir = Path(os.environ.get("DBT_TARGET_PATH") or project_dir / "target")
        if not self.target_dir.is_absolute():
            self.target_dir = project_dir / self.target_dir
        if target:
            # Relations in the manifest carry the target's schema: one manifest per named target, so
            # the fresh-manifest shortcut in feeds() never hands one target's relations to another.
            self.target_dir = self.target_dir / target
        self._manifest: Any = None
        #: dbt's saved parse state (modification time and size) when this process's parse found
        #: nothing changed, so the manifest is that state's; None otherwise.
        self._parse_stamp: str | None = None
        self._shopify_vars: dict[str, str] | None = None

    # -- invocation ---------------------------------------------------------------------------

    def vars(self) -> dict[str, str]:
        """The --vars of every invocation. The profile reads the DuckDB path from one (profiles.yml
        falls back to FEEDS_DUCKDB_PATH for dbt run by hand), so the path reaches dbt without touching
        this process's environment; shopify_api (and the GraphQL table names) come from the raw
        tables when the project leaves it unset."""
        if self._shopify_vars is None:
            self._shopify_vars = shopify_vars(self.project_dir, self.duckdb_path, self.target, self.profiles_dir)
        return {DUCKDB_PATH_VAR: str(self.duckdb_path), **self._shopify_vars}

    def _args(self, command: str, *extra: str, extra_vars: dict[str, str] | None = None) -> list[str]:
        args = ["--log-level", "none", "--log-level-file", "info"]
        if self.log_dir is not None:
            args += ["--log-path", str(self.log_dir)]
        args += [command, "--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir)]
        variables = {**self.vars(), DUCKDB_PATH_VAR: _dbt_duckdb_path(self.duckdb_path), **(extra_vars or {})}
        args += ["--target-path", str(self.target_dir), "--vars", json.dumps(variables)]
        if self.target:
            args += ["--target", self.target]
        return args + list(extra)

    def _invoke(self, args: list[str], callbacks: list[Callable[[Any], None]] | None = None) -> Any:
        from dbt.cli.main import dbtRunner

        runner = dbtRunner(manifest=self._manifest, callbacks=callbacks or [])
        return runner.invoke(args)

    def _check_project(self) -> None:
        if not (self.project_dir / "dbt_project.yml").is_file():
            raise ConfigError(
                f"no dbt project (dbt_project.yml) in {self.project_dir}; run feeds from the project root "
                "or set project_dir in feeds.yml"
            )

    def parse(self) -> Any:
        """Parse the project in-process (partial parsing makes repeats cheap) and keep the manifest.

        target/manifest.json is written only when the parse found something to parse. dbt rewrites
        it at every parse, about half a second of serialising an unchanged manifest; when its
        partial parse finds no file, var or profile changed, the manifest is the one it saved with
        its state (partial_parse.msgpack), which the manifest.json written after that state holds.
        """
        if self._manifest is None:
            self._check_project()
            unchanged: list[bool] = []

            def on_event(event: Any) -> None:
                if event.info.name == "PartialParsingSkipParsing":
                    unchanged.append(True)

            result = self._invoke(self._args("parse", "--no-write-json"), [on_event])
            if not result.success or result.result is None:
                raise ConfigError(
                    f"dbt could not parse the project in {self.project_dir}: {exception_text(result.exception)}"
                )
            self._manifest = result.result
            self._parse_stamp = self._saved_parse_stamp() if unchanged else None
            self._write_manifest(reuse=bool(unchanged))
        return self._manifest

    def _write_manifest(self, reuse: bool) -> None:
        """Write manifest.json as dbt's parse does, unless `reuse` (nothing changed) and the file on
        disk was written after dbt's saved parse state, so it holds that state's manifest. (A parse
        by hand with --no-write-json saves a state without a manifest.json to match: rewritten.)"""
        manifest = self.target_dir / "manifest.json"
        saved = self.target_dir / "partial_parse.msgpack"
        if reuse:
            try:
                if manifest.stat().st_mtime_ns >= saved.stat().st_mtime_ns and _ends_json(manifest):
                    # Touched: feeds() trusts a manifest newer than every project file, and a file
                    # touched without a change of content is one dbt found unchanged.
                    os.utime(manifest)
                    return
            except OSError:
                pass  # either file missing: write it
        from dbt.parser.manifest import write_semantic_manifest

        # Whole or not at all (dbt writes in place): a run stopped while writing leaves the old file.
        temporary = manifest.with_name(f".{manifest.name}.{os.getpid()}.tmp")
        try:
            self._manifest.write(str(temporary))
            os.replace(temporary, manifest)
        finally:
            temporary.unlink(missing_ok=True)
        write_semantic_manifest(self._manifest, str(self.target_dir))

    # -- feeds --------------------------------------------------------------------------------

    def feeds(self) -> list[Feed]:
        """Every mart declared as a Listrak feed (config.meta.listrak_feed), in declaration order.

        Read from `target/manifest.json` when it is newer than every project file, which spares
        commands that do not build (export, upload, check) the seconds dbt takes to import and parse.
        """
        self._check_project()
        manifest_path = self.target_dir / "manifest.json"
        if self._manifest is None and _is_fresh(manifest_path, self.project_dir):
            try:
                return feeds_from_manifest(json.loads(manifest_path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError):
                pass  # unreadable or from another dbt version: parse instead
        self.parse()
        return feeds_from_manifest(json.loads(manifest_path.read_text(encoding="utf-8")))

    # -- build --------------------------------------------------------------------------------

    def build(
        self, select: list[str] | None = None, on_node: NodeCallback | None = None, unit_tests: bool = True,
        full_refresh: bool = False, extra_vars: dict[str, Any] | None = None, exact: list[str] | None = None,
        exclude: list[str] | None = None, write_results: bool = True,
    ) -> BuildSummary:
        """Run `dbt build` on the selection; never raises for failing models or tests.

        `unit_tests=False` leaves out dbt unit tests: they check the SQL on fixed inputs, not the
        data, and dbt recommends running them in development and CI rather than in production.
        `extra_vars` are added to this build's --vars only (the parsed manifest is reused, so they
        reach the SQL dbt renders at run time, such as the tests' feeds_test_scope).
        `exact`, when given, replaces `select`: the nodes to run, as buildable_nodes() names them,
        and no others (dbt's indirect selection off: a test runs when named).
        `exclude`: selectors of nodes left out (runner.test_batch: the tests a feeds_row_rules test
        covers). `write_results=False` leaves target/run_results.json as the last build wrote it.
        """
        self.parse()
        extra: list[str] = ["--full-refresh"] if full_refresh else []
        if exact is not None:
            extra += ["--select", *exact, "--indirect-selection", "empty"]
        elif select:
            # buildable: a test runs when every model it reads is selected or upstream of the
            # selection. dbt's default (eager) also picks tests that read an unselected mart (order
            # items' Sku in products, for --feeds products), which fail on a warehouse without it.
            extra += ["--select", *select, "--indirect-selection", "buildable"]
        if exclude:
            extra += ["--exclude", *exclude]
        if not unit_tests:
            extra += ["--exclude-resource-type", "unit_test"]
        callbacks = [_node_callback(on_node)] if on_node else []
        # The parse above wrote target/manifest.json; dbt build would write it again when it ends,
        # which costs more than an unchanged project's partial parse (about 1 s of serialising the
        # whole manifest). Only run_results.json is new: written here, as dbt writes it.
        extra.append("--no-write-json")
        started = time.perf_counter()
        result = self._invoke(self._args("build", *extra, extra_vars=extra_vars), callbacks)
        seconds = time.perf_counter() - started
        if write_results and hasattr(result.result, "write"):
            result.result.write(str(self.target_dir / "run_results.json"))
        return summarize(result, seconds)

    def models(self, select: list[str]) -> list[str]:
        """The names of the models a selection builds, as dbt resolves it (`dbt ls --resource-type model`)."""
        manifest = self.parse()
        return [manifest.nodes[unique_id].name for unique_id in self._selected(select, "model")]

    def sources(self, select: list[str]) -> list[SourceTable]:
        """The source tables a selection reads, as dbt resolves it (`dbt ls --resource-type source`)."""
        manifest = self.parse()
        tables = []
        for unique_id in self._selected(select, "source"):
            source = manifest.sources[unique_id]
            variable = _VAR.search(source.unrendered_schema or "")
            tables.append(SourceTable(
                source=source.source_name,
                name=source.name,
                schema=source.schema,
                identifier=source.identifier or source.name,
                schema_var=variable.group(1) if variable else None,
            ))
        return tables

    def buildable_nodes(self, select: list[str]) -> list[tuple[str, str, str]]:
        """(unique_id, resource type, selector) of each node `build(select, unit_tests=False)` runs,
        as dbt resolves the selection; the selector (`fqn:` and the node's dotted fqn) picks that
        node alone once unit tests, whose fqn extends their model's, are left out."""
        self.parse()
        lines = self._ls(select, "--indirect-selection", "buildable",
                         *[arg for kind in ("model", "seed", "snapshot", "test") for arg in ("--resource-type", kind)],
                         "--output", "json", "--output-keys", "unique_id resource_type fqn")
        nodes = [json.loads(line) for line in lines]
        return [(node["unique_id"], node["resource_type"], "fqn:" + ".".join(node["fqn"])) for node in nodes]

    def _selected(self, select: list[str], resource_type: str) -> list[str]:
        """The unique ids of the nodes of one type a selection picks (`dbt ls`)."""
        self.parse()
        lines = self._ls(select, "--resource-type", resource_type, "--output", "json", "--output-keys", "unique_id")
        return [json.loads(line)["unique_id"] for line in lines]

    def _saved_parse_stamp(self) -> str | None:
        try:
            saved = (self.target_dir / "partial_parse.msgpack").stat()
        except OSError:
            return None
        return f"{saved.st_mtime_ns}:{saved.st_size}"

    def _ls(self, select: list[str], *options: str) -> list[str]:
        """The lines `dbt ls --select <select> <options>` prints, after parse().

        Kept in target/feeds_ls.json against dbt's saved parse state (partial_parse.msgpack, by
        modification time and size) and the whole command line (vars included), when the parse
        found nothing changed, so the manifest is that state's: the same manifest and arguments
        select the same nodes, so runs on an unchanged project ask dbt once per question, not once
        a run (each `dbt ls` costs 0.1-0.15 s, mostly loading the project and profile again)."""
        args = self._args("ls", "--select", *select, *options)
        # Not kept: selectors that read more than the manifest (state:, result:, source_status:),
        # a saved state dbt keeps elsewhere (DBT_PARTIAL_PARSE_FILE_PATH), or a state another
        # process rewrote since this one's parse.
        stamp = self._parse_stamp
        if (any(re.search(r"\b(state|result|source_status):", part) for part in select)
                or os.environ.get("DBT_PARTIAL_PARSE_FILE_PATH") or stamp != self._saved_parse_stamp()):
            stamp = None
        path = self.target_dir / LS_CACHE
        key = json.dumps(args)
        cached: dict[str, Any] = {}
        if stamp is not None:
            try:
                cached = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cached = {}
            if not isinstance(cached, dict) or cached.get("state") != stamp or not isinstance(cached.get("results"), dict):
                cached = {"state": stamp, "results": {}}
            lines = cached["results"].get(key)
            if isinstance(lines, list):
                return [str(line) for line in lines]
        result = self._invoke(args)
        if not result.success or result.result is None:
            raise ConfigError(f"dbt could not resolve the selection {' '.join(select)}: {exception_text(result.exception)}")
        lines = [str(line) for line in result.result]
        if stamp is not None and stamp == self._saved_parse_stamp():
            cached["results"][key] = lines
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                temporary.write_text(json.dumps(cached), encoding="utf-8")
                os.replace(temporary, path)
            except OSError:
                temporary.unlink(missing_ok=True)  # not kept: asked again next time
        return lines

    def source_freshness(self, models: dict[str, str]) -> dict[str, tuple[datetime | None, str | None]]:
        """For each name -> model: the newest row (max `loaded_at_field`) over the sources upstream of
        the model, by `dbt source freshness` on the configured target; or why it is unknown."""
        manifest = self.parse()
        upstream = {name: _upstream_sources(manifest, f"model.{manifest.metadata.project_name}.{model}")
                    for name, model in models.items()}
        wanted = sorted({source for sources in upstream.values() for source in sources})
        if not wanted:
            return {}
        selection = [f"source:{manifest.sources[uid].source_name}.{manifest.sources[uid].name}" for uid in wanted]
        args = self._args("freshness", "--select", *selection)
        args.insert(args.index("freshness"), "source")
        result = self._invoke(args)
        if result.result is None or not hasattr(result.result, "results"):
            raise ConfigError(f"dbt source freshness failed: {exception_text(result.exception)}")
        newest: dict[str, datetime] = {}
        errors: dict[str, str] = {}
        for item in result.result.results:
            loaded_at = getattr(item, "max_loaded_at", None)
            if isinstance(loaded_at, datetime):
                newest[item.node.unique_id] = loaded_at if loaded_at.tzinfo else loaded_at.replace(tzinfo=timezone.utc)
            else:
                errors[item.node.unique_id] = _essence(getattr(item, "message", None))
        answer: dict[str, tuple[datetime | None, str | None]] = {}
        for name, sources in upstream.items():
            times = [newest[uid] for uid in sources if uid in newest]
            problems = [errors[uid] for uid in sources if uid in errors]
            if times:
                answer[name] = (max(times), None)
            elif sources:
                answer[name] = (None, problems[0] if problems else "dbt source freshness returned nothing")
        return answer


@dataclass(frozen=True)
class SourceTable:
    """A raw table a model reads through `source()`, where the warehouse should have it."""

    source: str
    name: str
    schema: str
    identifier: str
    #: The dbt var the schema comes from (e.g. shopify_schema), when the YAML sets it from one.
    schema_var: str | None = None


#: `{{ var('shopify_schema', 'shopify') }}` -> shopify_schema
_VAR = re.compile(r"""var\(\s*['"]([^'"]+)['"]""")


def selection_for(feeds: list[Feed]) -> list[str]:
    """The dbt selection that builds and tests the given feeds (their rejects models are upstream-shared)."""
    return [f"+{feed.model}" for feed in feeds]


_PROJECT_FILES = ("dbt_project.yml", "models", "macros", "seeds", "tests/dbt", "snapshots", "analyses")


def _dbt_duckdb_path(path: Path) -> str:
    """The DuckDB file as dbt is given it: relative to the working directory when the file lies under
    it, else absolute.

    dbt keeps its partial-parse state (target/partial_parse.msgpack) only while the --vars and the
    profile's connection settings, the path among them, stay the same; any change costs a full parse
    (`dbt parse` of this project: 10.1 s of CPU against 4.2 s for a partial one, import included).
    Given relative, the path is the same for every store laid out alike, such as one project serving
    several shops each from its own folder, so one parse serves them all. The database name dbt
    derives from the file name is the same either way.

    Only while the process is still in the directory it started in: dbt-duckdb keeps its connection
    open between invocations and opens a new one only for other settings, so after a change of
    directory the same relative path would reach the file it opened before.
    """
    try:
        here = Path.cwd()
        if here != _STARTED_IN:
            return str(path)
        # absolute(), not resolve(): a symlink keeps its own name, from which dbt names the database.
        return str(path.absolute().relative_to(here))
    except (OSError, ValueError):
        return str(path)


def _started_in() -> Path | None:
    try:
        return Path.cwd()
    except OSError:
        return None


#: The working directory this process started in (see _dbt_duckdb_path).
_STARTED_IN = _started_in()


def _ends_json(path: Path) -> bool:
    """Whether the file ends as a JSON object does (a manifest cut short by a crash does not)."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64))
        return handle.read().rstrip().endswith(b"}")


def _is_fresh(manifest: Path, project_dir: Path) -> bool:
    """Whether the manifest was written after the last change to any project file."""
    try:
        written = manifest.stat().st_mtime
    except OSError:
        return False
    for name in _PROJECT_FILES:
        path = project_dir / name
        if not path.exists():
            continue
        paths = [path] if path.is_file() else [path, *path.rglob("*")]
        if any(candidate.stat().st_mtime > written for candidate in paths):
            return False
    return True


def feeds_from_manifest(manifest: dict[str, Any]) -> list[Feed]:
    """The feed declarations of a manifest.json: marts with config.meta.listrak_feed, their
    contracted columns, and each column's maximum length and required flag from its data tests."""
    nodes: dict[str, Any] = manifest["nodes"]
    limits: dict[tuple[str, str], int] = {}
    required: set[tuple[str, str]] = set()
    rules: dict[str, list[Rule]] = {}
    email_pattern = _email_pattern(manifest)
    seeds = {node["name"]: node for node in nodes.values() if node["resource_type"] == "seed"}
    for node in nodes.values():
        metadata = node.get("test_metadata")
        # A feeds_row_rules test runs other tests' rules (runner.test_batch): no rule of its own.
        if node["resource_type"] != "test" or not metadata or metadata.get("name") == ROW_RULES_TEST:
            continue
        attached, column = node.get("attached_node"), _unquoted(node.get("column_name"))
        if attached:
            rules.setdefault(attached, []).append(_rule(node, metadata, email_pattern, seeds))
        if not attached or not column:
            continue
        if metadata["name"] == "max_length":
            length = (metadata.get("kwargs") or {}).get("length")
            if length is not None:
                limits[(attached, column)] = int(length)
        elif metadata["name"] == "not_null":
            required.add((attached, column))

    models = {node["name"]: node for node in nodes.values() if node["resource_type"] == "model"}
    feeds = []
    for unique_id, node in nodes.items():
        if node["resource_type"] != "model":
            continue
        meta = (node.get("config", {}).get("meta") or {}).get(FEED_META_KEY) or (node.get("meta") or {}).get(FEED_META_KEY)
        if not meta:
            continue
        for key in ("name", "file_name", "key"):
            if key not in meta:
                raise ConfigError(f"model {node['name']}: meta.{FEED_META_KEY}.{key} is required")
        columns = tuple(
            Column(
                name=name,
                data_type=(info.get("data_type") or "varchar"),
                max_length=limits.get((unique_id, name)),
                required=(unique_id, name) in required,
            )
            for name, info in node["columns"].items()
            if not _internal(info)
        )
        rejects = models.get(meta.get("rejects_model") or "")
        feeds.append(
            Feed(
                name=str(meta["name"]),
                model=node["name"],
                relation=_relation(node),
                file_name=str(meta["file_name"]),
                key=tuple(meta["key"]),
                mode=str(meta.get("mode", "full")),
                columns=columns,
                rejects_model=rejects["name"] if rejects else None,
                rejects_relation=_relation(rejects) if rejects else None,
                rules=tuple(rules.get(unique_id, ())),
            )
        )
    return feeds


def _internal(column: dict[str, Any]) -> bool:
    """A mart column that is no feed column (meta feeds_internal: an incremental mart's entity key
    and bookkeeping, macros/listrak_feed_columns.sql): never exported, previewed or validated."""
    meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
    return bool(meta.get("feeds_internal"))


def _rule(
    node: dict[str, Any], metadata: dict[str, Any], email_pattern: str | None, seeds: dict[str, dict[str, Any]]
) -> Rule:
    # `model` and `column_name` are dbt's own plumbing, not the test's arguments.
    arguments = {
        key: value for key, value in (metadata.get("kwargs") or {}).items() if key not in ("model", "column_name")
    }
    if metadata["name"] == "email_format" and email_pattern is not None:
        arguments["pattern"] = email_pattern
    if metadata["name"] == "value_in_seed":
        arguments.update(_seed_values(seeds, arguments))
    return Rule(
        test=str(metadata["name"]),
        name=str(node["name"]),
        column=_unquoted(node.get("column_name")),
        arguments=arguments,
        severity=str((node.get("config") or {}).get("severity") or "error").lower(),
    )


def _seed_values(seeds: dict[str, dict[str, Any]], arguments: dict[str, Any]) -> dict[str, Any]:
    """The allowed values of a value_in_seed test, read from its seed's CSV file as accepted_values
    arguments, so validate checks a file against the seed itself; {} when the file is not found."""
    found = re.fullmatch(r"""\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*""", str(arguments.get("to", "")))
    seed = seeds.get(found.group(1)) if found else None
    if seed is None:
        return {}
    path = Path(seed.get("root_path") or "") / seed["original_file_path"]
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            values = [row[arguments["field"]] for row in csv.DictReader(handle)]
    except (OSError, KeyError):
        return {}
    return {"values": values, "quote": not all(re.fullmatch(r"-?[0-9]+", value) for value in values)}


def _email_pattern(manifest: dict[str, Any]) -> str | None:
    """The regular expression of the project's `email_regex` macro, which the email_format test and
    the quarantine both use: validate reads it here rather than keeping a copy that could drift."""
    for macro in (manifest.get("macros") or {}).values():
        if macro.get("name") != "email_regex":
            continue
        found = re.search(r'return\(\s*"([^"]*)"\s*\)', macro.get("macro_sql") or "")
        if found:
            # The macro's text is pasted inside a SQL string literal, so quotes are doubled there.
            return found.group(1).replace("''", "'")
    return None


def _unquoted(column: str | None) -> str | None:
    """A test's column as the YAML names it: dbt quotes a `quote: true` column in the target's way."""
    if column and len(column) > 1 and column[0] == column[-1] and column[0] in "\"`":
        return column[1:-1]
    return column


def _relation(node: dict[str, Any]) -> str:
    # Schema and name only: the connection's default database is the DuckDB file, whatever its
    # name was when the manifest was written.
    return relation(node["schema"], node.get("alias") or node["name"])


def _upstream_sources(manifest: Any, unique_id: str) -> set[str]:
    """The sources with a `loaded_at_field` that a node reads, directly or through other nodes."""
    seen: set[str] = set()
    found: set[str] = set()
    pending = [unique_id]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in manifest.sources:
            source = manifest.sources[current]
            if source.loaded_at_field or getattr(source.config, "loaded_at_field", None):
                found.add(current)
        elif current in manifest.nodes:
            pending.extend(getattr(manifest.nodes[current].depends_on, "nodes", None) or [])  # seeds: macros only
    return found


def _node_callback(on_node: NodeCallback) -> Callable[[Any], None]:
    def callback(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        info = event.data.node_info
        on_node(info.node_name, info.resource_type, info.node_status)

    return callback


