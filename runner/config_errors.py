"""Configuration errors as the user's keys and what to write instead: one line per mistake, never a secret."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import BaseModel

from runner.config import FeedSettings, Settings
from runner.deliver import registry

if TYPE_CHECKING:
    from runner.deliver.registry import Protocol


def describe(
    errors: list[Any],
    path: Path | None,
    from_env: Mapping[tuple[str, ...], str] | None = None,
    protocol: Protocol | None = None,
) -> str:
    where = str(path) if path else "configuration"
    lines = [f"invalid configuration in {where}:"]
    for error in errors:
        kind = error["type"]
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc) or "(top level)"
        if kind == "extra_forbidden":
            message = "unknown key"
            parent = _model_at(error["loc"][:-1], protocol.settings if protocol else None)
            if parent is not None:
                message += f"; allowed here: {', '.join(sorted(parent.model_fields))}"
        elif kind == "missing":
            under_destination = protocol is not None and len(loc) == 2 and loc[0] == "destination"
            env = protocol.variable_for(loc[1]) if under_destination else None  # type: ignore[union-attr]
            message = "required" + (f" (set it in the file or with {env})" if env else "")
        elif kind == "destination_type_missing":
            message = f"required: {registry.names()}"
        elif kind == "destination_type_invalid":
            message = f"must be {registry.names()} (got {error['tag']})"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a mapping: `key: value` lines indented under it{_got(error, loc)}"
            if loc == ("destination",) and registry.get(error.get("input")) is not None:
                message += f"; write `destination:` and under it `  type: {error['input']}`"
        else:
            message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
            message += _got(error, loc)
            if kind == "string_type" and isinstance(error.get("input"), (bool, int, float)):
                message += "; quote it, e.g. key: \"value\", so YAML reads it as text"
        if loc in (from_env or {}):
            message += f" (set by the environment variable {from_env[loc]})"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def _got(error: Mapping[str, Any], loc: tuple[str, ...]) -> str:
    """` (got ...)`: the value when it is short and not a secret, else only what kind of value it was."""
    if "input" not in error or _is_secret(loc):
        return ""
    value = error["input"]
    if isinstance(value, (dict, list, tuple, set)):
        # For a type mistake, what kind of value was there; a checked mapping's message names the entry.
        return "" if error["type"] == "value_error" else f" (got a {'mapping' if isinstance(value, dict) else 'list'})"
    shown = repr(value)
    return f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"


def _is_secret(loc: tuple[str, ...]) -> bool:
    # notify.N.url_env holds a variable's name; a URL written there by mistake is the secret itself.
    return bool(loc) and (loc[-1] in registry.secret_variables(None) or loc[-1] == "url_env")


def _model_at(loc: tuple[Any, ...], destination_model: type[BaseModel] | None = None) -> type[BaseModel] | None:
    """The model at a pydantic error location, if any (`destination_model` under `destination`)."""
    model: type[BaseModel] = Settings
    parts = [str(part) for part in loc]
    while parts:
        part = parts.pop(0)
        if model is Settings and part == "feeds":
            model = FeedSettings
            parts = parts[1:]  # the feed name
        elif model is Settings and part == "destination":
            if destination_model is None:
                return None
            model = destination_model
        else:
            annotation = getattr(model.model_fields.get(part), "annotation", None)
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return None
            model = annotation
    return model
