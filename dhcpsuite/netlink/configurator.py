# -*- test-case-name: tests.unit.test_netlink_configurator -*-
"""
The netlink L{IInterfaceConfigurator}.
"""

from __future__ import annotations

import errno as _errno
import os


class ConfiguratorError(Exception):
    """
    The kernel (or a fake) refused a configuration request.

    @ivar errno: the positive errno the kernel answered (e.g. C{errno.ENODEV}).
    @ivar operation: what was asked, in words (C{"add_address 10.0.0.1/24 on eth0"}).
    @ivar message: a readable explanation, e.g. C{"No such device"}.
    """

    def __init__(self, errno: int, operation: str, message: str | None = None) -> None:
        if message is None:
            message = os.strerror(errno) if errno else "unknown error"
        super().__init__(errno, operation, message)
        self.errno = errno
        self.operation = operation
        self.message = message

    @property
    def errno_name(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:
        return f"{self.operation}: {self.message} ({self.errno_name})"


def describe_call(method: str, arguments: dict) -> str:
    """
    A one-line account of a configurator call for error messages and logs:
    C{add_address(ifname='eth0', interface=10.0.0.1/24)}; arguments left at
    L{None} are omitted.
    """
    shown = ", ".join(
        f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
        for name, value in arguments.items()
        if value is not None
    )
    return f"{method}({shown})"
