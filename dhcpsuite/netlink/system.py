# -*- test-case-name: tests.unit.test_netlink_reader -*-
"""
OS access for the netlink reader and configurator, behind
L{dhcpsuite.interfaces.INetlinkSystem} so that the same code runs against
L{dhcpsuite.netlink.testing.MemoryNetlinkSystem} in unit tests (the model of
C{twisted.pair.tuntap}'s C{_RealSystem}).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from typing import Callable, TypeVar

from zope.interface import implementer

from dhcpsuite.interfaces import INetlinkSystem

NETLINK_ROUTE = 0
SO_RCVBUFFORCE = 33
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
CLONE_NEWNET = 0x40000000

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
MONITOR_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE

T = TypeVar("T")


def in_namespace(netns: str | None, function: Callable[[], T]) -> T:
    """
    Run C{function} with the calling thread inside network namespace
    C{netns} and return its result. A socket stays in the namespace it was
    created in, so a socket made here can be read by a reactor anywhere.

    The switch happens in a short-lived thread, so the caller's own thread
    (the reactor's) never leaves its namespace, even if something fails.
    """
    if netns is None:
        return function()
    path = netns if netns.startswith("/") else f"/run/netns/{netns}"
    result: dict[str, object] = {}

    def enter_and_run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc().setns(fd, CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns({path}): {os.strerror(code)}")
            finally:
                os.close(fd)
            result["value"] = function()
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e

    thread = threading.Thread(target=enter_and_run, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]  # type: ignore[return-value]


_libc_handle = None


def _libc():
    global _libc_handle
    if _libc_handle is None:
        _libc_handle = ctypes.CDLL(None, use_errno=True)
    return _libc_handle


def open_netlink_socket(groups: int, receive_buffer: int, netns: str | None = None) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer)
            except PermissionError:
                # Without CAP_NET_ADMIN the kernel caps this at rmem_max.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            try:
                # Extended ACKs make kernel errors readable ("Invalid prefix...").
                sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            except OSError:
                pass
            sock.bind((0, groups))
        except BaseException:
            sock.close()
            raise
        return sock

    return in_namespace(netns, make)


@implementer(INetlinkSystem)
class RealNetlinkSystem:
    def __init__(self) -> None:
        self._sockets: dict[int, socket.socket] = {}
        self.receive_buffer_sizes: dict[int, int] = {}
        self._buffer = bytearray(1 << 18)
        self._view = memoryview(self._buffer)

    def open(self, groups, receive_buffer, netns=None):
        sock = open_netlink_socket(groups, receive_buffer, netns)
        fd = sock.fileno()
        self._sockets[fd] = sock
        self.receive_buffer_sizes[fd] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        return fd

    def portid(self, fd):
        return self._sockets[fd].getsockname()[0]

    def recv(self, fd, size):
        view = self._view if size >= len(self._buffer) else self._view[:size]
        count = self._sockets[fd].recv_into(view)
        return bytes(self._view[:count])

    def send(self, fd, data):
        self._sockets[fd].send(data)

    def close(self, fd):
        sock = self._sockets.pop(fd, None)
        self.receive_buffer_sizes.pop(fd, None)
        if sock is not None:
            sock.close()


WOULD_BLOCK = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)
