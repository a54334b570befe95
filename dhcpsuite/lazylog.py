# -*- test-case-name: tests.unit.test_lazylog -*-
"""
A logger for the modules that the client's early path
(L{dhcpsuite.client.early}) runs before Twisted is imported.

Why: importing C{twisted.logger} imports the C{twisted} package and half of
its core (~40 ms here), and the early path exists to bind an address before
paying for Twisted at all. L{LazyLogger} has the C{twisted.logger.Logger}
calls the pure client modules use (C{debug}, C{info}, C{warn}, C{error}) and
the same descriptor behaviour (namespace from the class, source the
instance). While L{hold} is in force it keeps each event with its time;
L{release} hands the kept events to C{twisted.logger}'s global publisher
with their original times, in order. Otherwise an event goes to
C{twisted.logger} at once.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from typing import Any

# (namespace, source, level name, format, fields, time) while held.
_held: list[tuple[str, Any, str, str, dict[str, Any], float]] | None = None


def hold() -> None:
    """
    Keep events from now on instead of importing Twisted to publish them.
    """
    global _held
    if _held is None:
        _held = []


def held() -> bool:
    return _held is not None


def release() -> int:
    """
    Publish every kept event through C{twisted.logger} and stop keeping.

    @return: how many events were published.
    """
    global _held
    events, _held = _held, None
    if not events:
        return 0
    from twisted.logger import Logger, LogLevel

    for namespace, source, level, format, fields, when in events:
        logger = Logger(namespace, source)
        event = dict(fields)
        event.update(
            log_logger=logger,
            log_level=LogLevel.levelWithName(level),
            log_namespace=namespace,
            log_source=source,
            log_format=format,
            log_time=when,
        )
        logger.observer(event)
    return len(events)


class LazyLogger:
    """
    A stand-in for C{twisted.logger.Logger} that imports Twisted only when
    it publishes (see the module docstring).
    """

    def __init__(self, namespace: str = "", source: Any = None) -> None:
        self.namespace = namespace
        self.source = source

    def __get__(self, instance: object, owner: type | None = None) -> LazyLogger:
        assert owner is not None
        return LazyLogger(f"{owner.__module__}.{owner.__name__}", owner if instance is None else instance)

    def emit(self, level: str, format: str, **fields: Any) -> None:
        if _held is not None:
            _held.append((self.namespace, self.source, level, format, fields, time.time()))
            return
        from twisted.logger import Logger, LogLevel

        Logger(self.namespace, self.source).emit(LogLevel.levelWithName(level), format, **fields)

    def debug(self, format: str, **fields: Any) -> None:
        self.emit("debug", format, **fields)

    def info(self, format: str, **fields: Any) -> None:
        self.emit("info", format, **fields)

    def warn(self, format: str, **fields: Any) -> None:
        self.emit("warn", format, **fields)

    def error(self, format: str, **fields: Any) -> None:
        self.emit("error", format, **fields)
