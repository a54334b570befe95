# -*- test-case-name: tests.unit.test_config -*-
"""
The configuration file: one TOML document, validated into frozen value objects.

Every error names the key path and the problem, e.g.
C{server.subnet[0].pool[1]: '10.0.0.300' is not an IPv4 address}, so an
operator can fix the file without reading code.

Each component owns the parser for its own section (C{parse_*_config(section)}
in C{dhcpsuite/<component>/config.py}); this module holds the reading helpers
they share and the explicit table of sections.
"""

from __future__ import annotations

import importlib
import ipaddress
from types import MappingProxyType
from collections.abc import Callable, Iterator, Mapping

from dhcpsuite.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from typing import Any

_REQUIRED: Any = object()


class ConfigError(Exception):
    """
    The configuration is wrong. C{str()} is one line: C{key.path: problem}.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(path, problem)
        self.path = path
        self.problem = problem

    def __str__(self) -> str:
        if not self.path:
            return self.problem
        return f"{self.path}: {self.problem}"


class Section:
    """
    A read cursor over one TOML table that knows its own key path.

    Readers remember which keys were read so that L{finish} can reject the
    unknown ones (a misspelt key must not be silently ignored).
    """

    def __init__(self, data: dict[str, Any], path: str = "") -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"must be a table, not {_kind(data)}")
        self.data = data
        self.path = path
        self._seen: set[str] = set()

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.key_path(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _REQUIRED) -> Any:
        self._seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(key, "is required")
            return default
        return self.data[key]

    def _typed(self, key: str, default: Any, types: tuple[type, ...], kind: str) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        # bool is an int in Python; a TOML boolean is never a number here.
        if isinstance(value, bool) and bool not in types:
            raise self.error(key, f"must be {kind}, not a boolean")
        if not isinstance(value, types):
            raise self.error(key, f"must be {kind}, not {_kind(value)}")
        return value

    def string(self, key: str, default: Any = _REQUIRED) -> Any:
        return self._typed(key, default, (str,), "a string")

    def boolean(self, key: str, default: Any = _REQUIRED) -> Any:
        return self._typed(key, default, (bool,), "true or false")

    def integer(
        self,
        key: str,
        default: Any = _REQUIRED,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        value = self._typed(key, default, (int,), "an integer")
        if value is default and key not in self.data:
            return value
        if minimum is not None and value < minimum:
            raise self.error(key, f"{value} is less than {minimum}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"{value} is more than {maximum}")
        return value

    def number(self, key: str, default: Any = _REQUIRED, minimum: float | None = None) -> Any:
        value = self._typed(key, default, (int, float), "a number")
        if value is default and key not in self.data:
            return value
        if minimum is not None and value < minimum:
            raise self.error(key, f"{value} is less than {minimum}")
        return float(value)

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _REQUIRED) -> Any:
        value = self.string(key, default)
        if value is default and key not in self.data:
            return value
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def string_list(self, key: str, default: Any = _REQUIRED) -> Any:
        """
        A list of strings; a single string is accepted as a list of one.
        """
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise self.error(key, f"must be a list of strings, not {_kind(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.key_path(key)}[{index}]", f"must be a string, not {_kind(item)}")
        return value

    def parsed(self, key: str, parse: Callable[[str], Any], what: str, default: Any = _REQUIRED) -> Any:
        """
        A string turned into a value by C{parse}; a C{ValueError} from it
        becomes C{key: 'text' is not <what>}.
        """
        text = self.string(key, default)
        if text is default and key not in self.data:
            return text
        return _parse_one(self.key_path(key), text, parse, what)

    def parsed_list(self, key: str, parse: Callable[[str], Any], what: str, default: Any = _REQUIRED) -> Any:
        texts = self.string_list(key, default)
        if texts is default and key not in self.data:
            return texts
        if isinstance(self.data.get(key), str):
            return [_parse_one(self.key_path(key), texts[0], parse, what)]
        return [
            _parse_one(f"{self.key_path(key)}[{index}]", text, parse, what)
            for index, text in enumerate(texts)
        ]

    def ipv4(self, key: str, default: Any = _REQUIRED) -> Any:
        return self.parsed(key, ipaddress.IPv4Address, "an IPv4 address", default)

    def ipv4_list(self, key: str, default: Any = _REQUIRED) -> Any:
        return self.parsed_list(key, ipaddress.IPv4Address, "an IPv4 address", default)

    def table(self, key: str, default: Any = _REQUIRED) -> Any:
        """
        A sub-table as a L{Section}, or C{default} when absent.
        """
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        return Section(value, self.key_path(key))

    def tables(self, key: str) -> list["Section"]:
        """
        An array of tables (C{[[key]]}) as L{Section}s; absent means none.
        """
        value = self.raw(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of tables, not {_kind(value)}")
        return [Section(item, f"{self.key_path(key)}[{index}]") for index, item in enumerate(value)]

    def finish(self) -> None:
        """
        Reject keys nobody read: they are misspellings or misplaced.
        """
        for key in self.data:
            if key not in self._seen:
                raise self.error(key, "is not a known key here")


def _parse_one(path: str, text: str, parse: Callable[[str], Any], what: str) -> Any:
    try:
        return parse(text)
    except ValueError as e:
        detail = str(e)
        suffix = f" ({detail})" if detail and text not in detail else ""
        raise ConfigError(path, f"{text!r} is not {what}{suffix}") from None


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


# Section name -> "module:function" that turns a Section into that
# component's frozen config. Explicit, like CoreDHCP's plugin list: nothing
# registers itself by being imported.
SECTION_PARSERS: dict[str, str] = {
    "server": "dhcpsuite.server.config:parse_server_config",
    "netlink": "dhcpsuite.netlink.config:parse_netlink_config",
    "ingest": "dhcpsuite.ingest.config:parse_ingest_config",
    "client": "dhcpsuite.client.config:parse_client_config",
    "control": "dhcpsuite.control.config:parse_control_config",
}


class Config(Record):
    """
    The whole validated configuration. A component whose section is absent
    has L{None} and is not started.
    """

    state_dir: str = "/var/lib/dhcpsuite"
    sections: Mapping[str, Any] = MappingProxyType({})
    source: str = "<defaults>"

    def section(self, name: str) -> Any:
        return self.sections.get(name)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.sections.items())


def _parser(name: str) -> Callable[[Section], Any]:
    module_name, function_name = SECTION_PARSERS[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)


def parse_config(document: dict[str, Any], source: str = "<string>") -> Config:
    root = Section(document)
    state_dir = root.string("state_dir", "/var/lib/dhcpsuite")
    sections = {}
    for name in SECTION_PARSERS:
        if root.has(name):
            section = root.table(name)
            sections[name] = _parser(name)(section)
            section.finish()
    root.finish()
    return Config(state_dir=state_dir, sections=sections, source=source)


def parse_config_text(text: str, source: str = "<string>") -> Config:
    return parse_config(_toml_document(text, source), source)


def _toml_document(text: str, source: str) -> dict[str, Any]:
    # Imported here: the client's early path reads a cached document
    # instead (dhcpsuite.tomlcache), and tomllib costs ~15 ms of its start.
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("", f"{source}: not valid TOML: {e}") from None


def load_config(path: str, cache_directory: str | None = None, cache_entries: int | None = None) -> Config:
    """
    Read and validate a configuration file.

    @param cache_directory: keep the parsed document there for the next
        start, and use the one kept when the file has not changed
        (L{dhcpsuite.tomlcache}); L{None}: parse the file every time.
    @param cache_entries: entries the cache directory keeps at most
        (L{None}: L{dhcpsuite.tomlcache.DEFAULT_MAX_ENTRIES}).
    @raise ConfigError: naming the key and the problem, or the file.
    """
    try:
        with open(path, "rb") as f:
            source = f.read()
        text = source.decode("utf-8")
    except OSError as e:
        raise ConfigError("", f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"{path}: not UTF-8 text") from None
    if cache_directory is None:
        return parse_config_text(text, path)
    from dhcpsuite import tomlcache

    document = tomlcache.load(cache_directory, path, source)
    if document is None:
        document = _toml_document(text, path)
        tomlcache.store(cache_directory, path, source, document, cache_entries)
    return parse_config(document, path)
