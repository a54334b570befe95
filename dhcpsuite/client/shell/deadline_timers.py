# -*- test-case-name: tests.unit.test_client_service -*-
"""
Deadline timers on C{CLOCK_BOOTTIME} for the reactor.

Twisted's C{callLater} follows the wall clock, which jumps when it is set.
L{BoottimeTimer} is a C{timerfd} on C{CLOCK_BOOTTIME} wrapped as a
L{FileDescriptor} (dhcpagent's timer queue, but suspend-aware): it fires at
the boottime deadline whatever the wall clock does, and counts time spent in
suspend. L{ReactorTimer} is the fallback (and what Clock-driven tests use):
a C{callLater} that, when it fires, checks the boottime clock and re-arms if
the deadline has not really come, so a wall clock set forward cannot make a
lease expire early.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from typing import Any, Callable

from twisted.internet import abstract
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.client.system.boottime import CLOCK_BOOTTIME, EPSILON, BoottimeClock
from dhcpsuite.interfaces import IClock

TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1


@implementer(IClock)
class SystemClock(BoottimeClock):
    """
    The system's clocks as the client's L{IClock}.
    """


class _ITimerSpec(ctypes.Structure):
    _fields_ = [
        ("interval_sec", ctypes.c_long),
        ("interval_nsec", ctypes.c_long),
        ("value_sec", ctypes.c_long),
        ("value_nsec", ctypes.c_long),
    ]


_libc: Any = None


def _lib() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def timerfd_create() -> int:
    fd = _lib().timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC)
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return fd


def timerfd_settime(fd: int, deadline: float | None) -> None:
    """
    Arm C{fd} for the absolute boottime C{deadline}; L{None} disarms.
    """
    spec = _ITimerSpec(0, 0, 0, 0)
    if deadline is not None:
        seconds = max(deadline, 0.0)
        spec.value_sec = int(seconds)
        spec.value_nsec = int((seconds - int(seconds)) * 1e9)
        if spec.value_sec == 0 and spec.value_nsec == 0:
            spec.value_nsec = 1  # all zero would disarm: "already due" is 1 ns
    if _lib().timerfd_settime(fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))




class BoottimeTimer(abstract.FileDescriptor):
    """
    One deadline on C{CLOCK_BOOTTIME}: L{arm} replaces it, L{cancel} clears
    it, C{callback()} runs when it passes. L{close} releases the fd.
    """

    log = Logger()

    def __init__(self, callback: Callable[[], None], reactor: Any = None) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self._callback = callback
        self._fd = timerfd_create()
        self.connected = 1
        self.deadline: float | None = None

    def fileno(self) -> int:
        return self._fd

    def arm(self, deadline: float) -> None:
        self.deadline = deadline
        timerfd_settime(self._fd, deadline)
        self.startReading()

    def cancel(self) -> None:
        self.deadline = None
        if self._fd >= 0:
            timerfd_settime(self._fd, None)
            self.stopReading()

    def doRead(self) -> None:
        try:
            os.read(self._fd, 8)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return
            raise
        self.deadline = None
        self.stopReading()
        self._callback()

    def close(self) -> None:
        if self._fd >= 0:
            self.stopReading()
            os.close(self._fd)
            self._fd = -1
            self.connected = 0

    def logPrefix(self) -> str:
        return "BoottimeTimer"


class ReactorTimer:
    """
    A deadline on C{clock.monotonic()} kept with C{reactor.callLater}, checked
    again when it fires (see the module docstring).
    """

    def __init__(self, callback: Callable[[], None], reactor: Any, clock: IClock) -> None:
        self._callback = callback
        self._reactor = reactor
        self._clock = clock
        self._call: IDelayedCall | None = None
        self.deadline: float | None = None

    def arm(self, deadline: float) -> None:
        self.cancel()
        self.deadline = deadline
        self._call = self._reactor.callLater(max(0.0, deadline - self._clock.monotonic()), self._fire)

    def cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self.deadline = None

    def _fire(self) -> None:
        self._call = None
        deadline = self.deadline
        if deadline is None:
            return
        if self._clock.monotonic() + EPSILON < deadline:
            # The wall clock moved forward (the reactor's time), the boottime
            # deadline has not come: wait the rest.
            self.arm(deadline)
            return
        self.deadline = None
        self._callback()

    def close(self) -> None:
        self.cancel()


def make_timer(callback: Callable[[], None], reactor: Any, clock: IClock) -> BoottimeTimer | ReactorTimer:
    """
    A L{BoottimeTimer} when the clock is the system's and timerfd works,
    else a L{ReactorTimer}.
    """
    if isinstance(clock, SystemClock):
        try:
            return BoottimeTimer(callback, reactor)
        except (OSError, AttributeError):
            pass
    return ReactorTimer(callback, reactor, clock)

