# -*- test-case-name: tests.unit.test_logs -*-
"""
Log observers for C{twistd --logger=...}.

Text, one line per event, with every field's control characters escaped
(a hostname or a NAK's message from the network cannot forge a line, or
recolour or clear the reader's terminal):

    twistd -n --logger=dhcpsuite.logs.text_stdout dhcpsuite --config FILE
    DHCPSUITE_LOG_FILE=/var/log/dhcpsuite.log twistd -n --logger=dhcpsuite.logs.text_file dhcpsuite ...

JSON lines (one event per line, every structured field kept: C{mac},
C{address}, C{event}, C{xid} ...; JSON escapes control characters itself):

    twistd -n --logger=dhcpsuite.logs.json_stdout dhcpsuite --config FILE
    DHCPSUITE_LOG_FILE=/var/log/dhcpsuite.jsonl twistd -n --logger=dhcpsuite.logs.json_file dhcpsuite ...
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from twisted.logger import FileLogObserver, ILogObserver, eventAsText, formatTime, jsonFileLogObserver, timeFormatRFC3339

from dhcpsuite.printable import printable as _printable

LOG_FILE_VARIABLE = "DHCPSUITE_LOG_FILE"


def printable(text: str) -> str:
    # A log is read, not parsed: backslashes stay as they are, so a repr
    # (b'\x00') reads as usual; only real control characters are escaped.
    return _printable(text, backslash=False)
# Keys the formatter itself reads as objects, not as text.
_STRUCTURAL = frozenset(("log_level", "log_time", "log_failure", "log_logger", "log_source", "log_observer", "log_trace"))


class _Escaped:
    """
    A field value as the formatter sees it: whatever C{{field}},
    C{{field!r}}, C{{field.attr}}, C{{field[key]}} or C{{field()}} makes of
    it comes out escaped.
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __format__(self, spec: str) -> str:
        return printable(format(self._value, spec))

    def __str__(self) -> str:
        return printable(str(self._value))

    def __repr__(self) -> str:
        return printable(repr(self._value))

    def __getattr__(self, name: str) -> Any:
        return _escaped(getattr(self._value, name))

    def __getitem__(self, key: Any) -> Any:
        return _escaped(self._value[key])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _escaped(self._value(*args, **kwargs))


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _Escaped(value)


def escaped_event(event: dict) -> dict:
    """
    A copy of C{event} whose format and fields render without control
    characters.
    """
    return {key: value if key in _STRUCTURAL else _escaped(value) for key, value in event.items()}


def format_escaped(event: dict, time_format: str | None = timeFormatRFC3339) -> str | None:
    """
    Twisted's classic text line for C{event}, escaped: the message is one
    line; a traceback keeps its line breaks (indented, as twistd writes
    them) but no other control character.
    """
    text = eventAsText(escaped_event(event), includeTraceback=False, formatTime=lambda t: formatTime(t, time_format))
    failure = event.get("log_failure")
    if failure is not None:
        try:
            traceback = failure.getTraceback()
        except Exception:
            traceback = "(unable to format the traceback)"
        text = "\n".join([text, *(printable(line) for line in traceback.rstrip("\n").split("\n"))])
    if not text:
        return None
    return text.replace("\n", "\n\t") + "\n"


def text_observer(out: IO[Any]) -> ILogObserver:
    return FileLogObserver(out, format_escaped)


def text_stdout() -> ILogObserver:
    return text_observer(sys.stdout)


def text_file() -> ILogObserver:
    path = os.environ.get(LOG_FILE_VARIABLE, "/var/log/dhcpsuite/dhcpsuite.log")
    return text_observer(open(path, "a", encoding="utf-8"))


def json_stdout() -> ILogObserver:
    return jsonFileLogObserver(sys.stdout, recordSeparator="")


def json_file() -> ILogObserver:
    path = os.environ.get(LOG_FILE_VARIABLE, "/var/log/dhcpsuite/dhcpsuite.jsonl")
    return jsonFileLogObserver(open(path, "a", encoding="utf-8"), recordSeparator="")
