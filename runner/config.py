"""Configuration: `feeds.yml` plus environment variables, validated into plain settings.

Precedence: built-in defaults < feeds.yml < environment variables < command-line options (applied by
the CLI). Secrets (each destination protocol names its own, see runner.deliver.registry) come only
from the environment. Relative paths are resolved against the directory holding the configuration
file (the project root by default). The `destination:` section is validated by the settings model of
the protocol its `type` names; config.py names no protocol.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from runner.config_ops import Count, NotifySettings, Number, check_duration as _check_duration
from runner.errors import ConfigError

if TYPE_CHECKING:
    from runner.deliver.registry import Protocol

CONFIG_ENV = "FEEDS_CONFIG"
DEFAULT_CONFIG_NAME = "feeds.yml"

#: strftime directives of a date that Python formats the same everywhere; glibc's `-` flag (%-d) is allowed too.
_DATE_DIRECTIVES = set("aAwdbBmyYjUWGuV%")

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # A NUL in a path or name would only fail later, deep in the OS or DuckDB, as a traceback.
        if isinstance(value, (str, Path)) and "\x00" in str(value):
            raise ValueError("must not contain a NUL character")
        return value


def _check_column_format(value: str | None, info: ValidationInfo) -> str | None:
    """timestamp_format / date_format: checked with DuckDB, which formats the columns with it."""
    if value is None:
        return value
    from runner.warehouse.export import column_format_problem  # DuckDB is the warehouse's; imported only when a format is set

    problem = column_format_problem(value, "timestamp" if info.field_name == "timestamp_format" else "date")
    if problem:
        raise ValueError(problem)
    return value


def _check_text_value(value: str | None) -> str | None:
    """true_value / false_value: a line break would split the row in the file."""
    if value is not None and ("\n" in value or "\r" in value):
        raise ValueError("must not hold a line break")
    return value


def _check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    for column, header in (value or {}).items():
        if "\n" in header or "\r" in header or not header.strip():
            raise ValueError(f"the header for {column} must be a non-empty name without line breaks (got {header!r})")
    return value


Encoding = Literal["utf-8", "utf-16", "ascii", "utf-7"]


class FeedFormat(_Strict):
    """How one feed file is written. Every key may be set in `defaults:` or per feed."""

    format: Literal["csv", "xlsx"] = "csv"
    extension: Literal["csv", "txt", "xlsx"] | None = Field(
        None, description="file extension; defaults to csv for format csv, xlsx for format xlsx"
    )
    delimiter: Literal[",", "|", "\t"] = ","
    quote: Literal['"', "'"] = '"'
    quote_all: bool = False
    #: Listrak's list: UTF-8, "Unicode" (UTF-16 little-endian with BOM), ASCII (transliterated), UTF-7.
    encoding: Encoding = "utf-8"
    bom: bool = False
    line_ending: Literal["lf", "crlf"] = "lf"
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    date_format: str = "%Y-%m-%d"
    true_value: str = "True"
    false_value: str = "False"
    headers: dict[str, str] = Field(default_factory=dict, description="mart column -> header name in the file")
    #: Not a file property, but set per feed or in `defaults:` like one: `feeds status` calls a feed
    #: stale when its last delivery is older than this.
    max_age: str = Field("25h", description="a feed not delivered for longer is stale (`feeds status` exits 5)")

    _column_format = field_validator("timestamp_format", "date_format")(_check_column_format)
    _text_value = field_validator("true_value", "false_value")(_check_text_value)
    _headers = field_validator("headers")(_check_headers)
    _max_age = field_validator("max_age")(_check_duration)

    @property
    def file_extension(self) -> str:
        return self.extension or ("xlsx" if self.format == "xlsx" else "csv")

    @property
    def newline(self) -> str:
        return "\r\n" if self.line_ending == "crlf" else "\n"


class FeedSettings(_Strict):
    """Per-feed overrides in feeds.yml (`feeds: {orders: {...}}`); unset keys fall back to `defaults:`."""

    enabled: bool = True
    file_name: str | None = Field(None, description="name template without extension, e.g. Listrak_Order_Feed_{date}")
    mode: Literal["full", "delta"] | None = Field(None, description="default from the mart's meta: products full, others delta")
    empty_delta: Literal["send", "skip"] | None = None
    format: Literal["csv", "xlsx"] | None = None
    extension: Literal["csv", "txt", "xlsx"] | None = None
    delimiter: Literal[",", "|", "\t"] | None = None
    quote: Literal['"', "'"] | None = None
    quote_all: bool | None = None
    encoding: Encoding | None = None
    bom: bool | None = None
    line_ending: Literal["lf", "crlf"] | None = None
    timestamp_format: str | None = None
    date_format: str | None = None
    true_value: str | None = None
    false_value: str | None = None
    headers: dict[str, str] | None = None
    max_age: str | None = None

    _column_format = field_validator("timestamp_format", "date_format")(_check_column_format)
    _text_value = field_validator("true_value", "false_value")(_check_text_value)
    _headers = field_validator("headers")(_check_headers)
    _max_age = field_validator("max_age")(_check_duration)

    @field_validator("file_name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip() or any(char in value for char in "/\\\r\n") or value.startswith("."):
            raise ValueError(
                "must be a plain file name: not empty, no / or \\ or line break, not starting with '.' "
                "(e.g. Listrak_Order_Feed_{date})"
            )
        return value


class GateSettings(_Strict):
    """Safety gates checked before anything is delivered; `feeds run --force` overrides them once."""

    max_shrink: Number = Field(0.2, ge=0, le=1, description="refuse a full file this much smaller than the last delivered one")
    max_delta_share: Number = Field(0.5, gt=0, le=1, description="refuse a delta holding more than this share of the feed")


class DestinationSettings(_Strict):
    """Base of every destination protocol's settings: `type` names the protocol (runner.deliver.registry),
    whose model holds the rest of the `destination:` keys."""

    type: str


def _default_destination() -> DestinationSettings:
    from runner.deliver import registry

    return registry.get(registry.DEFAULT).settings()  # type: ignore[union-attr]


class Settings(_Strict):
    """The whole validated configuration."""

    base_dir: Path = Field(Path("."), description="set by the loader: relative paths resolve against it")
    project_dir: Path = Field(Path("."), description="the dbt project (dbt_project.yml)")
    duckdb_path: Path = Path("feeds.duckdb")
    output_dir: Path = Path("out")
    state_dir: Path = Field(Path(".feeds"), description="run records, delivery state and the run lock")
    target: str | None = Field(None, description="dbt target; default is the profile's")
    timezone: str = Field("America/New_York", description="time zone of the {date} in file names")
    date_format: str = Field("%Y%m%d", description="strftime pattern of {date} in file names")
    keep_runs: Count = Field(30, ge=1, description="local feed files of older runs are removed")
    empty_delta: Literal["send", "skip"] = Field("send", description="a delta with no rows: send a header-only file, or nothing")
    gates: GateSettings = Field(default_factory=GateSettings)
    destination: SerializeAsAny[DestinationSettings] = Field(
        default_factory=_default_destination, description="validated by its protocol's model (see load_settings)"
    )
    defaults: FeedFormat = Field(default_factory=FeedFormat)
    feeds: dict[str, FeedSettings] = Field(default_factory=dict)
    #: `feeds sample` names files <prefix><feed file name>, in samples_dir if set (checked by runner.run.sample).
    sample_prefix: str = "Sample_"
    samples_dir: str | None = None
    notify: list[NotifySettings] = Field(default_factory=list, description="webhooks told of failures, staleness, recovery")

    @field_validator("gates", "defaults", "feeds", "notify", mode="before")
    @classmethod
    def _empty_section(cls, value: Any, info: ValidationInfo) -> Any:
        # `defaults:` with every key below it commented out is YAML null: an empty section, not a mistake.
        if value is None:
            return [] if info.field_name == "notify" else {}
        if info.field_name == "feeds" and isinstance(value, dict):
            return {name: {} if settings is None else settings for name, settings in value.items()}
        return value

    @field_validator("destination", mode="before")
    @classmethod
    def _destination(cls, value: Any) -> Any:
        # load_settings validates the section with its protocol's model first, for messages naming each key;
        # this covers settings built in code.
        if isinstance(value, dict) or value is None:
            from runner.deliver import registry

            protocol, _errors = registry.protocol_of(value)
            if protocol is None:
                raise ValueError("must be a mapping whose `type` names a registered destination protocol")
            return protocol.settings.model_validate(value or {"type": protocol.name})
        return value

    @model_validator(mode="after")
    def _boms(self) -> "Settings":
        for where, fmt in [("defaults", self.defaults), *((f"feeds.{name}", self.feed_format(name)) for name in self.feeds)]:
            if fmt.bom and fmt.encoding not in ("utf-8", "utf-16"):
                raise ValueError(f"{where}: bom: true does not go with encoding {fmt.encoding} (only utf-8 takes an "
                                 "optional BOM; utf-16 always has one)")
        return self

    @field_validator("output_dir", "state_dir")
    @classmethod
    def _folder(cls, value: Path, info: ValidationInfo) -> Path:
        # A file in the way would fail every run later, as an OS error deep in the run.
        path = value.expanduser()
        path = path if path.is_absolute() else info.data.get("base_dir", Path(".")) / path
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} exists and is not a folder; point it at a folder (created if absent)")
        return value

    @field_validator("date_format")
    @classmethod
    def _file_name_date(cls, value: str) -> str:
        """The {date} of file names, formatted by Python's strftime on the run date."""
        for match in re.finditer(r"%(-?)(.?)", value):
            flag, directive = match.groups()
            if not directive:
                raise ValueError("ends with a lone %; write %% for a percent sign")
            if directive not in _DATE_DIRECTIVES or (flag and directive == "%"):
                raise ValueError(
                    f"%{flag}{directive} is not a date directive for file names; use %Y, %m, %d, %j, %b and the like"
                )
        samples = {date(2026, 12, 31).strftime(value), date(2025, 1, 2).strftime(value)}
        if len(samples) == 1:
            raise ValueError("gives the same text for every date; use directives such as %Y%m%d")
        for sample in samples:
            bad = sorted({char for char in sample if char in "/\\\r\n"})
            if bad:
                raise ValueError(f"puts {bad[0]!r} into file names ({sample!r}); use a format without it, e.g. %Y%m%d")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as America/New_York") from None
        return value

    def feed_format(self, feed: str) -> FeedFormat:
        """The effective format of one feed: defaults overlaid with that feed's settings."""
        overrides = self.feeds.get(feed)
        if overrides is None:
            return self.defaults
        changes = {
            key: value
            for key, value in overrides.model_dump(exclude_unset=True).items()
            if key in FeedFormat.model_fields
        }
        return self.defaults.model_copy(update=changes)

    def resolve(self, path: Path) -> Path:
        """A configured path made absolute against the configuration file's directory."""
        path = path.expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def runs_dir(self) -> Path:
        return self.resolve(self.state_dir) / "runs"


def config_path(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Which configuration file applies: --config, then $FEEDS_CONFIG, then ./feeds.yml if present."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.exists() else None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError naming the bad key."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"configuration file {path} not found; pass --config or set {CONFIG_ENV}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read configuration file {path}: {reason}") from None
        except yaml.YAMLError as exc:
            # Only the problem and its position: PyYAML's own text quotes the line, which may hold a secret.
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', None) or 'syntax error'}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of settings, not {type(loaded).__name__}")
        raw = loaded
        base_dir = path.resolve().parent
    _refuse_secrets_in_file(raw, path)
    from_env: dict[tuple[str, ...], str] = {}
    raw = _apply_environment(raw, environ, from_env)
    raw["base_dir"] = str(base_dir)
    # The destination section is validated by the model of the protocol its `type` names, so that each
    # message names the user's key (destination.port), not a union member.
    from runner.deliver import registry

    protocol: Protocol | None = None
    destination_errors: list[Any] = []
    if "destination" in raw:
        protocol, destination_errors = registry.validate_section(raw)
    errors: list[Any] = []
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        errors = list(exc.errors())
    if destination_errors:
        # In field order, as pydantic would have listed them: after the keys before `destination`.
        fields = list(Settings.model_fields)
        after = fields[fields.index("destination") + 1 :]
        at = next((i for i, error in enumerate(errors) if error["loc"] and error["loc"][0] in after), len(errors))
        errors[at:at] = destination_errors
    if errors:
        from runner.config_errors import describe

        raise ConfigError(describe(errors, path, from_env, protocol))
    return settings


def _refuse_secrets_in_file(raw: dict[str, Any], path: Path | None) -> None:
    from runner.deliver import registry

    destination = raw.get("destination")
    if isinstance(destination, dict):
        for key, env in registry.secret_variables(destination).items():
            if key in destination:
                raise ConfigError(
                    f"{path}: destination.{key} must not be stored in the configuration file; "
                    f"remove it and set the environment variable {env} instead"
                )


def _apply_environment(
    raw: dict[str, Any], environ: Mapping[str, str], from_env: dict[tuple[str, ...], str] | None = None
) -> dict[str, Any]:
    """`raw` with the FEEDS_* variables applied; `from_env` learns which key each variable set, for messages.
    The destination's variables are its protocol's (runner.deliver.registry)."""
    from runner.deliver import registry

    from_env = {} if from_env is None else from_env
    merged = dict(raw)
    for env, key in (("FEEDS_DUCKDB_PATH", "duckdb_path"), ("FEEDS_OUTPUT_DIR", "output_dir")):
        if environ.get(env):
            merged[key] = environ[env]
            from_env[(key,)] = env
    destination = merged.get("destination")
    if destination is not None and not isinstance(destination, dict):
        return merged  # not a mapping: validation names `destination` and what it must be
    destination = registry.apply_environment(dict(destination or {}), environ, from_env)
    if destination:
        merged["destination"] = destination
    return merged
