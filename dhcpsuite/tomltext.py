"""
TOML text from plain data, for the few places that write configuration
(the converters, the tests): the standard library reads TOML but does not
write it.
"""

from __future__ import annotations

import json
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_document(table: dict[str, Any], prefix: str = "") -> str:
    """
    The TOML text of C{table}: scalars and lists of scalars as keys, dicts as
    C{[tables]}, lists of dicts as C{[[arrays of tables]]}.
    """
    lines, nested = [], []
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            nested.append(f"\n[{path}]\n" + toml_document(value, path))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.extend(f"\n[[{path}]]\n" + toml_document(item, path) for item in value)
        else:
            lines.append(f"{key} = {toml_value(value)}\n")
    return "".join(lines) + "".join(nested)
