"""The destination protocols `destination.type` may name, and what each brings.

A protocol is one module (or package) that defines a `Protocol`: its settings model (the keys under
`destination:` in feeds.yml), the environment variables that set those keys, which keys are secrets
(accepted only from the environment) and a factory that makes the destination. Adding one is that
module plus one `register` line below; the configuration loader, the CLI and the run only go
through this registry. Settings modules must stay light (pydantic only): the configuration imports
them on every command, so a factory imports the protocol's network library only when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from pydantic import ValidationError

if TYPE_CHECKING:
    from runner.config import DestinationSettings
    from runner.deliver import Destination


@dataclass(frozen=True)
class Protocol:
    """One destination type."""

    #: The `destination.type` value that selects it.
    name: str
    #: Its settings model: a `runner.config.DestinationSettings` with ``type: Literal[name]``.
    settings: type[DestinationSettings]
    #: Makes the destination (not yet opened) from its settings and the directory relative paths resolve against.
    factory: Callable[[Any, Path], Destination]
    #: Environment variable -> settings key; applied over the file when the destination is of this type.
    environment: Mapping[str, str] = field(default_factory=dict)
    #: A variable that, when set, selects this type whatever the file says (e.g. the host of a server).
    selected_by: str | None = None
    #: Keys that hold secrets: refused in the file, never shown in messages, set only by their variable.
    secrets: tuple[str, ...] = ()

    def variable_for(self, key: str) -> str | None:
        """The environment variable that sets `key`, if any."""
        return next((env for env, name in self.environment.items() if name == key), None)


#: The type used when the configuration has no `destination:` section.
DEFAULT = "local"


def _builtin() -> list[Protocol]:
    """The protocols this package ships: one line each. (Imported on first use: each module imports
    this one for `Protocol`.)"""
    from runner.deliver.ftp.settings import PROTOCOL as FTP
    from runner.deliver.local import PROTOCOL as LOCAL
    from runner.deliver.sftp.settings import PROTOCOL as SFTP

    return [LOCAL, SFTP, FTP]


_PROTOCOLS: dict[str, Protocol] = {}
_loaded = False


def _all() -> dict[str, Protocol]:
    global _loaded
    if not _loaded:
        _loaded = True
        for protocol in _builtin():
            _PROTOCOLS.setdefault(protocol.name, protocol)
    return _PROTOCOLS


def register(protocol: Protocol) -> Protocol:
    """Make `protocol` available as `destination.type: <name>` (a later registration of a name wins)."""
    _all()[protocol.name] = protocol
    return protocol


def unregister(name: str) -> None:
    _all().pop(name, None)


def get(name: object) -> Protocol | None:
    """The protocol of this `destination.type` value, or None if it names none."""
    return _all().get(name) if isinstance(name, str) else None


def protocols() -> list[Protocol]:
    return list(_all().values())


def names() -> str:
    """The registered types for messages: "local or sftp", "ftp, local or sftp"."""
    known = sorted(_all())
    return known[0] if len(known) == 1 else f"{', '.join(known[:-1])} or {known[-1]}"


def protocol_of(section: Any) -> tuple[Protocol | None, list[dict[str, Any]]]:
    """The protocol a `destination:` section names (the default for an empty one), or None and
    errors about its `type`, in pydantic's error shape."""
    if section is None:
        return get(DEFAULT), []  # `destination:` with every key commented out
    if not isinstance(section, dict):
        return None, [{"type": "model_type", "loc": ("destination",), "input": section, "msg": "must be a mapping"}]
    if "type" not in section:
        return None, [{"type": "destination_type_missing", "loc": ("destination", "type"), "msg": "required"}]
    protocol = get(section["type"])
    if protocol is None:
        return None, [{"type": "destination_type_invalid", "loc": ("destination", "type"), "tag": section["type"], "msg": ""}]
    return protocol, []


def validate_section(raw: dict[str, Any]) -> tuple[Protocol | None, list[Any]]:
    """Replace raw["destination"] with its protocol's settings (removed if invalid); return the protocol
    and the errors, located under `destination` as the user wrote it."""
    section = raw.pop("destination")
    protocol, errors = protocol_of(section)
    if protocol is None:
        return None, errors
    try:
        raw["destination"] = protocol.settings.model_validate(section or {"type": protocol.name})
    except ValidationError as exc:
        return protocol, [{**error, "loc": ("destination", *error["loc"])} for error in exc.errors()]
    return protocol, []


def secret_variables(section: Any) -> dict[str, str]:
    """Secret keys of every protocol -> the variable that sets each (the section's own type first)."""
    named = get(section.get("type")) if isinstance(section, dict) else None
    secrets: dict[str, str] = {}
    for protocol in [p for p in (named,) if p] + protocols():
        for key in protocol.secrets:
            secrets.setdefault(key, protocol.variable_for(key) or "its environment variable")
    return secrets


def apply_environment(
    section: dict[str, Any], environ: Mapping[str, str], from_env: dict[tuple[str, ...], str]
) -> dict[str, Any]:
    """The section with its protocol's variables applied (a protocol's selecting variable switches the
    type, and keys of another type do not carry over); `from_env` learns which key each set."""
    selecting = {p.selected_by: p for p in protocols() if p.selected_by and environ.get(p.selected_by)}
    if len(selecting) > 1:
        # Which server the files should go to is not ours to guess.
        from runner.errors import ConfigError

        raise ConfigError(
            f"{' and '.join(sorted(selecting))} are both set: each selects a destination; "
            "unset all but the one you deliver to"
        )
    for protocol in selecting.values():
        if section.get("type") != protocol.name:
            section = {"type": protocol.name}
    protocol = get(section.get("type"))
    if protocol is not None:
        for env, key in protocol.environment.items():
            if environ.get(env):
                section[key] = environ[env]
                from_env[("destination", key)] = env
    return section


def make_destination(settings: DestinationSettings, base_dir: Path) -> Destination:
    """The destination these settings describe, not yet opened."""
    protocol = get(settings.type)
    if protocol is None:
        raise LookupError(f"no destination protocol {settings.type!r} is registered")
    return protocol.factory(settings, base_dir)
