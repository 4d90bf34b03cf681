"""Configuration: `feeds.yml` plus environment variables, validated into plain settings.

Precedence: built-in defaults < feeds.yml < environment variables < command-line options (applied by
the CLI). Secrets (SFTP password, key passphrase) come only from the environment. Relative paths are
resolved against the directory holding the configuration file (the project root by default).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runner.errors import ConfigError

CONFIG_ENV = "FEEDS_CONFIG"
DEFAULT_CONFIG_NAME = "feeds.yml"

_SECRET_KEYS = {"password": "FEEDS_SFTP_PASSWORD", "key_passphrase": "FEEDS_SFTP_KEY_PASSPHRASE"}


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity, e.g. a container's cpuset), else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedFormat(_Strict):
    """How one feed file is written. Every key may be set in `defaults:` or per feed."""

    format: Literal["csv", "xlsx"] = "csv"
    extension: Literal["csv", "txt", "xlsx"] | None = Field(
        None, description="file extension; defaults to csv for format csv, xlsx for format xlsx"
    )
    delimiter: Literal[",", "|", "\t"] = ","
    quote: Literal['"', "'"] = '"'
    quote_all: bool = False
    encoding: Literal["utf-8", "utf-16"] = "utf-8"
    bom: bool = False
    line_ending: Literal["lf", "crlf"] = "lf"
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    date_format: str = "%Y-%m-%d"
    true_value: str = "True"
    false_value: str = "False"
    headers: dict[str, str] = Field(default_factory=dict, description="mart column -> header name in the file")

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
    encoding: Literal["utf-8", "utf-16"] | None = None
    bom: bool | None = None
    line_ending: Literal["lf", "crlf"] | None = None
    timestamp_format: str | None = None
    date_format: str | None = None
    true_value: str | None = None
    false_value: str | None = None
    headers: dict[str, str] | None = None


class GateSettings(_Strict):
    """Safety gates checked before anything is delivered; `feeds run --force` overrides them once."""

    max_shrink: float = Field(0.2, ge=0, le=1, description="refuse a full file this much smaller than the last delivered one")
    max_delta_share: float = Field(0.5, gt=0, le=1, description="refuse a delta holding more than this share of the feed")


class LocalDestinationSettings(_Strict):
    type: Literal["local"] = "local"
    path: Path = Path("delivered")
    create_dirs: bool = True


class SftpDestinationSettings(_Strict):
    type: Literal["sftp"] = "sftp"
    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    remote_dir: str = "."
    key_file: Path | None = None
    key_passphrase: str | None = Field(None, repr=False, description="from FEEDS_SFTP_KEY_PASSPHRASE only")
    password: str | None = Field(None, repr=False, description="from FEEDS_SFTP_PASSWORD only")
    use_agent: bool = True
    known_hosts: Path | None = Field(None, description="known_hosts file; default ~/.ssh/known_hosts")
    host_key: str | None = Field(None, description="pinned host key fingerprint, SHA256:...")
    create_dirs: bool = False
    replace_existing: bool = True
    connect_timeout: float = Field(15.0, gt=0)
    operation_timeout: float = Field(60.0, gt=0)
    keepalive: int = Field(15, ge=0)
    retries: int = Field(4, ge=0)
    backoff: float = Field(1.0, ge=0)
    concurrency: int = Field(
        default_factory=lambda: max(1, min(4, _usable_cpus() // 2)),
        ge=1,
        le=16,
        description="files uploaded at once, each over its own connection; default half the CPUs (1 to 4): "
        "each connection keeps about one core busy on a fast link, and a run exports while it uploads. "
        "Raise it for a slow, far server, where each connection waits on the network",
    )

    @field_validator("host_key")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # 32 bytes of SHA-256 are 43 base64 characters; `ssh-keygen -l` drops the `=` padding, other
        # tools keep it. Normalise to OpenSSH's form, so a padded pin is not taken for another key.
        digest = value.strip().removeprefix("SHA256:").rstrip("=")
        base64_digits = all(c.isascii() and (c.isalnum() or c in "+/") for c in digest)
        if not value.strip().startswith("SHA256:") or len(digest) != 43 or not base64_digits:
            raise ValueError(
                "must be a SHA256 fingerprint like 'SHA256:AbC...' (43 base64 characters after 'SHA256:', "
                "as shown by `feeds check` or `ssh-keygen -lf`)"
            )
        return "SHA256:" + digest


DestinationSettings = Annotated[
    Union[LocalDestinationSettings, SftpDestinationSettings], Field(discriminator="type")
]


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
    keep_runs: int = Field(30, ge=1, description="local feed files of older runs are removed")
    empty_delta: Literal["send", "skip"] = Field("send", description="a delta with no rows: send a header-only file, or nothing")
    gates: GateSettings = Field(default_factory=GateSettings)
    destination: DestinationSettings = Field(default_factory=LocalDestinationSettings)
    defaults: FeedFormat = Field(default_factory=FeedFormat)
    feeds: dict[str, FeedSettings] = Field(default_factory=dict)

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
    raw = _apply_environment(raw, environ)
    raw["base_dir"] = str(base_dir)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _refuse_secrets_in_file(raw: dict[str, Any], path: Path | None) -> None:
    destination = raw.get("destination")
    if isinstance(destination, dict):
        for key, env in _SECRET_KEYS.items():
            if key in destination:
                raise ConfigError(
                    f"{path}: destination.{key} must not be stored in the configuration file; "
                    f"remove it and set the environment variable {env} instead"
                )


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged = dict(raw)
    if environ.get("FEEDS_DUCKDB_PATH"):
        merged["duckdb_path"] = environ["FEEDS_DUCKDB_PATH"]
    if environ.get("FEEDS_OUTPUT_DIR"):
        merged["output_dir"] = environ["FEEDS_OUTPUT_DIR"]
    destination = dict(merged.get("destination") or {})
    if environ.get("FEEDS_SFTP_HOST"):
        if destination.get("type") != "sftp":
            # The SFTP variables select the SFTP destination; local-only keys do not carry over.
            destination = {"type": "sftp"}
    sftp_vars = {
        "FEEDS_SFTP_HOST": "host",
        "FEEDS_SFTP_PORT": "port",
        "FEEDS_SFTP_USER": "username",
        "FEEDS_SFTP_KEY_FILE": "key_file",
        "FEEDS_SFTP_KEY_PASSPHRASE": "key_passphrase",
        "FEEDS_SFTP_PASSWORD": "password",
        "FEEDS_SFTP_KNOWN_HOSTS": "known_hosts",
        "FEEDS_SFTP_HOST_KEY": "host_key",
        "FEEDS_SFTP_REMOTE_DIR": "remote_dir",
    }
    if destination.get("type") == "sftp":
        for env, key in sftp_vars.items():
            if environ.get(env):
                destination[key] = environ[env]
    if destination:
        merged["destination"] = destination
    return merged


_ENV_FOR_FIELD = {
    ("destination", "host"): "FEEDS_SFTP_HOST",
    ("destination", "username"): "FEEDS_SFTP_USER",
}


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path else "configuration"
    lines = [f"invalid configuration in {where}:"]
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"] if part not in ("local", "sftp"))
        key = ".".join(loc) or "(top level)"
        if error["type"] == "extra_forbidden":
            message = "unknown key"
            parent = _model_at(loc[:-1])
            if parent is not None:
                message += f"; allowed here: {', '.join(sorted(parent.model_fields))}"
        elif error["type"] == "missing":
            env = _ENV_FOR_FIELD.get(loc[-2:]) if len(loc) >= 2 else None
            message = "required" + (f" (set it in the file or with {env})" if env else "")
        elif error["type"] == "literal_error":
            message = f"{error['msg'].replace('Input should be', 'must be')} (got {error.get('input')!r})"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if "input" in error and not _is_secret(loc):
                message += f" (got {error['input']!r})"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def _is_secret(loc: tuple[str, ...]) -> bool:
    return bool(loc) and loc[-1] in _SECRET_KEYS


def _model_at(loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Settings
    for part in loc:
        if model is Settings and part == "feeds":
            model = FeedSettings
            continue
        if model is FeedSettings:
            continue  # the feed name
        if part == "destination":
            return SftpDestinationSettings
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model
