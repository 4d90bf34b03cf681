"""Which engine a dbt target runs on, and the one switch between the embedded DuckDB file and a
warehouse (PostgreSQL, Spark) reached through its dbt adapter.

On DuckDB the marts are read where dbt built them. On any other target the marts (and their rejects
models) are first copied, streamed in bulk, into a private in-memory DuckDB database (spilling
beyond the memory cap to `<state_dir>/targets/<target>/`) under the same schema and table names;
every later step (fingerprints, delivery state, gates, quarantine counts, the file writers) then
runs unchanged on that copy. So the four files are written by one writer whatever the engine, and
the delivery state stays local.

The profile is read as plain YAML for a target's `type` (no dbt import on the DuckDB path). A
PostgreSQL output is rendered here (`env_var`, `var` and dbt's `as_*` filters, all this profile
uses) and opened with psycopg2, because importing dbt to connect costs about 2 s of every export; a
Spark output is rendered by dbt's own renderer, as its session is dbt-spark's anyway.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from runner.errors import ConfigError
from runner.feed import Feed
from runner.warehouse.messages import first_line, scrub
from runner.warehouse.sql import identifier

#: The profile's targets this project knows how to read marts from (README "Run on your warehouse").
ENGINES = ("duckdb", "postgres", "spark")


@dataclass(frozen=True)
class Target:
    """A dbt target as the runner needs it: its name and engine, and for a warehouse its credentials."""

    name: str
    engine: str
    #: dbt's rendered Credentials (None for DuckDB, read lazily for the others).
    credentials: Any = None

    @property
    def embedded(self) -> bool:
        return self.engine == "duckdb"

    def describe(self) -> str:
        """`target postgres (postgres at 127.0.0.1:5432, database feeds)`: never a password."""
        creds = self.credentials
        if creds is None:
            return f"target {self.name} ({self.engine})"
        if self.engine == "spark":
            method = getattr(creds.method, "value", creds.method)
            where = "a local Spark session" if method == "session" else f"{creds.host}:{creds.port} over {method}"
            return f"target {self.name} (spark, {where}, schema {creds.schema})"
        return f"target {self.name} ({self.engine} at {creds.host}:{creds.port}, database {creds.database})"

    @property
    def schema(self) -> str | None:
        return None if self.credentials is None else str(self.credentials.schema)


def _profile(project_dir: Path, profiles_dir: Path) -> tuple[str, dict[str, Any]]:
    try:
        project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
        profiles = yaml.safe_load((profiles_dir / "profiles.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the dbt profile in {profiles_dir}: {exc}") from None
    name = str(project.get("profile") or "")
    if name not in profiles:
        raise ConfigError(f"{profiles_dir / 'profiles.yml'} has no profile {name!r} (dbt_project.yml profile:)")
    return name, profiles[name]


def resolve(project_dir: Path, profiles_dir: Path, target: str | None) -> Target:
    """The target `target` (None: the profile's default) with its engine, credentials rendered for warehouses."""
    profile_name, profile = _profile(project_dir, profiles_dir)
    outputs = profile.get("outputs") or {}
    name = target or str(profile.get("target") or "default")
    if name not in outputs:
        raise ConfigError(
            f"dbt target {name!r} is not in profile {profile_name} ({profiles_dir / 'profiles.yml'}); "
            f"choose one of: {', '.join(outputs)}"
        )
    engine = str(outputs[name].get("type"))
    if engine not in ENGINES:
        raise ConfigError(
            f"dbt target {name!r} is of type {engine!r}; feeds reads marts from {', '.join(ENGINES)} "
            "(README: Run on your warehouse)"
        )
    if engine == "duckdb":
        return Target(name, engine)
    if engine == "postgres":
        from runner.warehouse import postgres

        where = f"dbt target {name!r}"
        return Target(name, engine, postgres.Settings.from_output(_render(outputs[name], where), where))
    return Target(name, engine, _credentials(profile_name, profile, name))


def _render(value: Any, where: str) -> Any:
    """A profile output with its Jinja strings rendered as dbt renders them: `env_var(name, default)`
    (an unset variable without default is an error naming it), `var(name, default)` (the default:
    no --vars here), and the filters as_number, as_bool, as_text, as_native."""
    import jinja2.sandbox

    def env_var(variable: str, default: Any = None) -> Any:
        if variable in os.environ:
            return os.environ[variable]
        if default is None:
            raise ConfigError(f"{where}: set the environment variable {variable} (profiles/profiles.yml reads it)")
        return default

    def var(_name: str, default: Any = None) -> Any:
        return default

    def as_bool(text: Any) -> bool:
        return str(text).strip().lower() in ("true", "1", "yes", "on")

    environment = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    environment.globals.update(env_var=env_var, var=var)
    environment.filters.update(as_number=lambda text: text, as_text=str, as_native=lambda text: text, as_bool=as_bool)
    if isinstance(value, dict):
        return {key: _render(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, where) for item in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    try:
        return environment.from_string(value).render()
    except jinja2.TemplateError as exc:
        # Never the value itself: it may be a literal password (one with a brace in it).
        raise ConfigError(f"{where}: a value in profiles/profiles.yml cannot be rendered as Jinja ({type(exc).__name__}"
                          f" on line {getattr(exc, 'lineno', '?')}); check its quoting") from None


def _credentials(profile_name: str, profile: dict[str, Any], target: str) -> Any:
    """The target's credentials rendered as dbt renders profiles.yml (env_var and all)."""
    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context
    from dbt_common.exceptions import DbtBaseException

    set_invocation_context(os.environ)
    try:
        name, data = Profile.render_profile(profile, profile_name, target, ProfileRenderer({}))
        data.pop("threads", None)
        return Profile._credentials_from_profile(data, profile_name, name)
    except DbtBaseException as exc:
        raise ConfigError(f"dbt target {target!r}: {first_line(exc)}") from None


@contextlib.contextmanager
def connection(target: Target) -> Iterator[Any]:
    """The warehouse's DB-API connection: psycopg2 from the profile's settings for PostgreSQL, the
    dbt adapter's connection manager for Spark (its session). Failures name target, host and
    database (exit 2); the password never appears."""
    if target.engine == "postgres":
        from runner.warehouse import postgres

        handle = postgres.connect(target.credentials, target.describe())
        try:
            yield handle
        finally:
            with contextlib.suppress(Exception):
                handle.close()
        return
    from dbt.adapters.contracts.connection import Connection
    from dbt.adapters.factory import FACTORY
    from dbt_common.exceptions import DbtBaseException

    manager = FACTORY.get_adapter_class_by_name(target.engine).ConnectionManager
    opened = Connection(type=target.engine, name="feeds", credentials=target.credentials)
    try:
        manager.open(opened)
    except DbtBaseException as exc:
        raise ConfigError(f"cannot connect to {target.describe()}: {scrub(first_line(exc), target.credentials)}") from None
    if opened.handle is None or str(getattr(opened.state, "value", opened.state)) != "open":
        raise ConfigError(f"cannot connect to {target.describe()}")
    try:
        yield opened.handle
    finally:
        with contextlib.suppress(Exception):
            opened.handle.close()


def staging_dir(state_dir: Path, target: Target) -> Path:
    """Where a warehouse's marts are copied for export: the pipes, and what DuckDB spills beyond its
    memory cap (one temporary folder per run, removed after it)."""
    return state_dir / "targets" / target.name


_RELATION = re.compile(r'"((?:[^"]|"")*)"\."((?:[^"]|"")*)"')


def split_relation(relation: str) -> tuple[str, str]:
    """`"schema"."name"` (as runner.warehouse.sql.relation writes it) -> (schema, name)."""
    found = _RELATION.fullmatch(relation)
    if not found:
        raise ConfigError(f"cannot read the relation {relation}; expected \"schema\".\"name\"")
    return found.group(1).replace('""', '"'), found.group(2).replace('""', '"')


@dataclass(frozen=True)
class Staged:
    """A warehouse's marts copied into a local DuckDB database for export. Their rows are in no
    particular order: the files are written unsorted (README "Run on your warehouse")."""

    connection: Any
    #: What the database holds, for messages.
    source: str


@contextlib.contextmanager
def stage_marts(target: Target, feeds: list[Feed], state_dir: Path, *, built_at: bool = True) -> Iterator[Staged]:
    """Copy the feeds' marts and rejects models from the warehouse into a private in-memory DuckDB
    database under the same names, for as long as the context lasts. Only the columns read here:
    of a PostgreSQL mart its key and feed columns and built_at (not the rest of its internal
    bookkeeping; nor built_at with `built_at=False`, for an export of full files that moves no
    delivery state), of a rejects
    model, when present, the columns the rule counts read. A missing mart is a ConfigError naming
    it, as on DuckDB (runner.run.gates)."""
    from runner.warehouse import postgres, spark
    from runner.warehouse.connection import connect_scratch
    from runner.warehouse.queries import REJECTS_COLUMNS
    from runner.warehouse.state import BUILT_AT

    marts: dict[str, tuple[str, ...]] = {}
    for feed in feeds:
        # built_at too, when the mart has it: the delivery state then hashes only the rows built since
        # the feed's last delivery, and records the builds a delivery sent (runner.warehouse.state).
        # An export of full files does neither, and PostgreSQL writing a timestamp for every row was
        # a fifth of its COPY of the order items (1.78 s against 2.23 s at 1M orders).
        wanted = (*feed.key, *(column.name for column in feed.columns), *((BUILT_AT,) if built_at else ()))
        marts[feed.relation] = tuple(dict.fromkeys((*marts.get(feed.relation, ()), *wanted)))
    rejects = [feed.rejects_relation for feed in feeds if feed.rejects_relation and feed.rejects_relation not in marts]
    # Spark's catalog may keep column names in another case: its marts are copied whole, as before.
    relations = [(*split_relation(relation), columns if target.engine == "postgres" else None)
                 for relation, columns in marts.items()]
    relations += [(*split_relation(relation), REJECTS_COLUMNS) for relation in dict.fromkeys(rejects)]
    folder = staging_dir(state_dir, target)
    folder.mkdir(parents=True, exist_ok=True)
    # The staging file of earlier versions (a DuckDB file per target) is no longer used.
    for stale in (folder.with_suffix(".duckdb"), folder.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".copy-") as scratch, \
            connect_scratch(Path(scratch) / "spill") as duck:
        if target.engine == "postgres":
            missing = postgres.copy_out(target.credentials, relations, duck, Path(scratch), target.describe())
        else:
            with connection(target) as handle:
                missing = spark.copy_out(handle, relations, duck, Path(scratch), target.describe())
        absent = [f"{schema}.{name}" for schema, name in missing if f"{identifier(schema)}.{identifier(name)}" in marts]
        if absent:
            raise ConfigError(
                f"{target.describe()}: the mart{'s' if len(absent) > 1 else ''} {', '.join(absent)} "
                f"{'do' if len(absent) > 1 else 'does'} not exist; build {'them' if len(absent) > 1 else 'it'} first "
                f"(feeds build --target {target.name})"
            )
        yield Staged(duck, f"the marts copied from {target.describe()}")


def missing_tables(target: Target, tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of the (schema, table) pairs the warehouse lacks (the raw tables a build reads)."""
    from runner.warehouse import postgres, spark

    with connection(target) as handle:
        if target.engine == "postgres":
            return postgres.missing_tables(handle, tables)
        return spark.missing_tables(handle, tables)


def preview(target: Target, relation: str, model: str, key: tuple[str, ...], limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first `limit` rows of a mart on the warehouse, by `key`, with column names; a missing
    mart is a ConfigError naming it."""
    from runner.warehouse import postgres, spark

    schema, name = split_relation(relation)
    with connection(target) as handle:
        shown = (postgres if target.engine == "postgres" else spark).preview(handle, schema, name, key, limit)
    if shown is None:
        raise ConfigError(f"{target.describe()}: mart {model} ({schema}.{name}) does not exist yet; "
                          f"run `feeds build --target {target.name}` first")
    return shown


def table_columns(target: Target, schema: str) -> dict[str, set[str]]:
    """The warehouse's tables and views in `schema` with their columns, names lower-cased (as
    runner.warehouse.table_columns gives them for the DuckDB file)."""
    from runner.warehouse import postgres, spark

    with connection(target) as handle:
        if target.engine == "postgres":
            return postgres.table_columns(handle, schema)
        return spark.table_columns(handle, schema)


def load_demo(target: Target, duckdb_path: Path, schema: str, tables: list[str]) -> None:
    """Bulk-load the demo raw tables of a local DuckDB file into the warehouse's `schema`."""
    from runner.warehouse import postgres, spark
    from runner.warehouse.connection import connect

    with tempfile.TemporaryDirectory(dir=duckdb_path.parent, prefix=".load-") as scratch, \
            connection(target) as handle, connect(duckdb_path) as duck:
        load = postgres.load_tables if target.engine == "postgres" else spark.load_tables
        load(handle, duck, schema, tables, Path(scratch))
