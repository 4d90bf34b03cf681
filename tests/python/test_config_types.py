"""A wrong type of value for any configuration key ends in a ConfigError naming the key (exit 2), never a traceback.

The table is generated from the pydantic models, so a key added later is covered without editing it.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from pydantic import BaseModel

from runner.config import (
    FeedFormat,
    FeedSettings,
    Settings,
    load_settings,
)
from runner.deliver.local import LocalDestinationSettings
from runner.deliver.sftp.settings import SftpDestinationSettings
from runner.errors import ConfigError
from workspace import REPO, feeds_command

_SFTP_REQUIRED = {"type": "sftp", "host": "sftp.example.com", "username": "feeds"}
_A_LIST = ["a", "b"]
_A_MAPPING = {"a": 1}


def _leaves(model: type[BaseModel], path: tuple[str, ...], base: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], Any, dict[str, Any]]]:
    """(dotted path, annotation, the document the key sits in) for every key of `model`, recursively."""
    for name, field in model.model_fields.items():
        if model is Settings and name == "base_dir":
            continue  # set by the loader, not read from the file
        key = (*path, name)
        annotation = field.annotation
        yield key, annotation, base
        if model is Settings and name == "destination":
            yield from _leaves(LocalDestinationSettings, key, {"destination": {"type": "local"}})
            yield from _leaves(SftpDestinationSettings, key, {"destination": dict(_SFTP_REQUIRED)})
        elif model is Settings and name == "feeds":
            yield (*key, "orders"), FeedSettings, base
            yield from _leaves(FeedSettings, (*key, "orders"), base)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaves(annotation, key, base)


def _wrong_values(annotation: Any) -> list[Any]:
    """Values of the wrong type for a key of this annotation."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]  # Optional[X]: None is allowed, X's wrong values apply
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return [5, True, "not-an-option", _A_LIST, _A_MAPPING]
    if origin is dict:
        return ["text", 5, _A_LIST, {"Email": _A_LIST}]
    if origin is list:
        return ["text", 5, _A_MAPPING, [5]]  # notify: a list of mappings
    if origin in (typing.Union, types.UnionType) or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return ["sftp", 5, _A_LIST]  # a section (destination, gates, defaults, one feed)
    if annotation is bool:
        return ["maybe", 5, _A_LIST, _A_MAPPING]
    if annotation is int:
        return ["abc", 1.5, True, _A_LIST, _A_MAPPING]
    if annotation is float:
        return ["abc", True, _A_LIST, _A_MAPPING]
    if annotation in (str, Path):
        return [5, True, _A_LIST, _A_MAPPING]
    raise AssertionError(f"no wrong values known for {annotation!r}; add them to this table")


def _place(base: dict[str, Any], key: tuple[str, ...], value: Any) -> dict[str, Any]:
    document = yaml.safe_load(yaml.safe_dump(base))  # a deep copy
    node = document
    for part in key[:-1]:
        node = node.setdefault(part, {})
    node[key[-1]] = value
    return document


def _cases() -> list[Any]:
    cases = []
    for key, annotation, base in _leaves(Settings, (), {}):
        dotted = ".".join(key)
        for value in _wrong_values(annotation):
            cases.append(pytest.param(_place(base, key, value), dotted, id=f"{dotted}={value!r}"))
    return cases


CASES = _cases()


def test_the_table_covers_every_section_and_key() -> None:
    keys = {case.values[1] for case in CASES}
    expected = {
        "destination", "destination.type", "destination.port", "destination.path", "destination.file_mode",
        "feeds", "feeds.orders", "feeds.orders.format", "feeds.orders.enabled", "feeds.orders.headers",
        "defaults.delimiter", "defaults.timestamp_format", "gates.max_shrink", "keep_runs", "date_format",
    }
    assert expected <= keys, expected - keys
    assert len(CASES) > 250


@pytest.mark.parametrize(("document", "key"), CASES)
def test_a_wrong_type_is_a_config_error_naming_the_key(tmp_path: Path, document: dict[str, Any], key: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config, environ={})
    message = str(raised.value)
    assert f" {key}:" in message or f" {key}." in message or f": {key} " in message, message


@pytest.mark.parametrize("document", ["[a, b]", "just text", "5", "true"])
def test_a_top_level_that_is_not_a_mapping_is_a_config_error(tmp_path: Path, document: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(document, encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(config, environ={})


def test_a_file_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yml"
    config.write_bytes(b"\xff\xfe\x00d\x00e\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(config, environ={})


SFTP_ENV = {"FEEDS_SFTP_HOST": "sftp.example.com", "FEEDS_SFTP_USER": "feeds"}


@pytest.mark.parametrize(
    ("environ", "key", "variable"),
    [
        ({**SFTP_ENV, "FEEDS_SFTP_PORT": "abc"}, "destination.port", "FEEDS_SFTP_PORT"),
        ({**SFTP_ENV, "FEEDS_SFTP_PORT": "2.5"}, "destination.port", "FEEDS_SFTP_PORT"),
        ({**SFTP_ENV, "FEEDS_SFTP_PORT": "70000"}, "destination.port", "FEEDS_SFTP_PORT"),
        ({**SFTP_ENV, "FEEDS_SFTP_HOST_KEY": "AAAA"}, "destination.host_key", "FEEDS_SFTP_HOST_KEY"),
    ],
)
def test_an_environment_variable_of_the_wrong_type_names_the_key_and_the_variable(
    environ: dict[str, str], key: str, variable: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, environ=environ)
    message = str(raised.value)
    assert f" {key}:" in message and variable in message, message


@pytest.mark.parametrize("destination", ["sftp", "5", "[a, b]"])
def test_sftp_variables_over_a_destination_that_is_not_a_mapping(tmp_path: Path, destination: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(f"destination: {destination}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=" destination: must be a mapping"):
        load_settings(config, environ=SFTP_ENV)


def test_a_secret_of_the_wrong_type_is_never_shown() -> None:
    # The password comes only from the environment; a wrong port beside it must not echo it.
    with pytest.raises(ConfigError) as raised:
        load_settings(None, environ={**SFTP_ENV, "FEEDS_SFTP_PORT": "x", "FEEDS_SFTP_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("command", "yaml_text", "env", "expected"),
    [
        ("check", "destination: sftp\n", {}, "destination: must be a mapping"),
        ("run", "destination: 5\n", {}, "destination: must be a mapping"),
        ("run", "destination: [a, b]\n", SFTP_ENV, "destination: must be a mapping"),
        ("run", "defaults:\n  delimiter: 5\n", {}, "defaults.delimiter:"),
        ("check", "feeds:\n  orders:\n    format: [csv]\n", {}, "feeds.orders.format:"),
        ("run", "keep_runs: true\n", {}, "keep_runs:"),
        ("run", "", {**SFTP_ENV, "FEEDS_SFTP_PORT": "abc"}, "destination.port:"),
    ],
)
def test_the_cli_exits_2_without_a_traceback(tmp_path: Path, command: str, yaml_text: str, env: dict[str, str], expected: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(f"project_dir: {REPO}\nstate_dir: state\noutput_dir: out\n{yaml_text}", encoding="utf-8")
    result = feeds_command(command, "--config", str(config), env=env)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("destination", "allowed", "not_allowed"),
    [({"type": "local", "file_mod": "0600"}, "file_mode", "host"), ({**_SFTP_REQUIRED, "paht": "x"}, "remote_dir", "file_mode")],
)
def test_an_unknown_destination_key_lists_the_keys_of_that_destination_type(
    tmp_path: Path, destination: dict[str, Any], allowed: str, not_allowed: str
) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(yaml.safe_dump({"destination": destination}), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key; allowed here") as raised:
        load_settings(config, environ={})
    assert allowed in str(raised.value) and not_allowed not in str(raised.value)


def test_a_section_left_empty_is_an_empty_section(tmp_path: Path) -> None:
    # Every key under it commented out: YAML reads null, which is not a type mistake.
    config = tmp_path / "feeds.yml"
    config.write_text("gates:\ndestination:\ndefaults:\nfeeds:\n  orders:\n", encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.destination.type == "local" and settings.feeds["orders"].enabled


@pytest.mark.parametrize("key", ["output_dir", "state_dir"])
def test_a_folder_setting_that_names_a_file_is_a_config_error(tmp_path: Path, key: str) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    config = tmp_path / "feeds.yml"
    config.write_text(f"{key}: a-file\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"  {key}: .*a-file exists and is not a folder"):
        load_settings(config, environ={})
