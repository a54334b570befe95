"""
Fuzz target: configuration parsing. Any text either parses or raises
ConfigError (whose message names a key or the file); nothing else.
"""

import sys

import atheris

with atheris.instrument_imports():
    from dhcpsuite.config import ConfigError, parse_config_text


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        parse_config_text(text, "<fuzz>")
    except ConfigError as e:
        if not str(e):
            raise AssertionError("a ConfigError with no message")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
