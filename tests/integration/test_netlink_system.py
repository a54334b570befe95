"""
The in-memory netlink system behaves like the kernel where the reader and
configurator depend on it (the tuntap model: one set of checks, run against
both, so the unit tests' fake is proven equivalent to the real thing).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct

import pytest

from dhcpsuite.netlink import encode
from dhcpsuite.netlink.constants import (
    NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE,
    RTM_NEWLINK,
)
from dhcpsuite.netlink.decode import decode_fast
from dhcpsuite.netlink.system import MONITOR_GROUPS, RealNetlinkSystem
from dhcpsuite.netlink.testing import MemoryNetlinkSystem, split_messages
from tests.support.environment import require_root
from tests.support.netns import Namespace, run

pytestmark = pytest.mark.integration


@pytest.fixture
def namespace():
    require_root()
    ns = Namespace(f"dnlsys{os.getpid()}")
    run(["ip", "netns", "add", ns.name])
    try:
        ns.run(["ip", "link", "add", "eq0", "type", "veth", "peer", "name", "eq1"])
        yield ns
    finally:
        run(["ip", "netns", "del", ns.name], check=False)


def real(namespace):
    return RealNetlinkSystem(), namespace.name


def memory(namespace):
    system = MemoryNetlinkSystem()
    # The fake is loaded with what the kernel says, then must answer alike.
    real_system = RealNetlinkSystem()
    fd = real_system.open(0, 1 << 20, namespace.name)
    try:
        for kind, body in ((RTM_GETLINK, encode.ifinfomsg()), (RTM_GETADDR, encode.ifaddrmsg(0, 0, 0)),
                           (RTM_GETROUTE, encode.rtmsg(0))):
            system.set_dump(kind, [
                m for d in _dump(real_system, fd, kind, body) for m in split_messages(d)
                if struct.unpack_from("=H", m, 4)[0] not in (NLMSG_DONE, NLMSG_ERROR)
            ])
        for m in system.dumps[RTM_GETLINK]:
            link = next(decode_fast(m)).body
            system.links_by_name[link.name] = m
    finally:
        real_system.close(fd)
    return system, namespace.name


def _dump(system, fd, kind, body, seq=99):
    system.send(fd, encode.message(kind, NLM_F_REQUEST | NLM_F_DUMP, seq, body))
    return _replies(system, fd, until_done=True)


def _replies(system, fd, until_done=False):
    import select
    import time

    out = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            data = system.recv(fd, 1 << 16)
        except OSError as e:
            assert e.errno == errno.EAGAIN
            if isinstance(system, RealNetlinkSystem):
                select.select([fd], [], [], 0.05)
                if not until_done and out:
                    return out
                continue
            return out
        out.append(data)
        if until_done and any(m.type == NLMSG_DONE for m in decode_fast(data)):
            return out
        if not until_done:
            return out
    return out


@pytest.fixture(params=[real, memory], ids=["real", "memory"])
def system(request, namespace):
    return request.param(namespace)


def test_empty_socket_would_block(system):
    system, netns = system
    fd = system.open(MONITOR_GROUPS, 1 << 20, netns)
    try:
        with pytest.raises(OSError) as raised:
            system.recv(fd, 1 << 16)
        assert raised.value.errno == errno.EAGAIN
        assert system.portid(fd) > 0
    finally:
        system.close(fd)


def test_dump_is_addressed_to_the_requester_and_ends_with_done(system):
    system, netns = system
    fd = system.open(MONITOR_GROUPS, 1 << 20, netns)
    try:
        messages = [m for d in _dump(system, fd, RTM_GETLINK, encode.ifinfomsg(), seq=1234) for m in decode_fast(d)]
        assert {m.seq for m in messages} == {1234}
        assert {m.pid for m in messages} == {system.portid(fd)}
        assert all(m.flags & NLM_F_MULTI for m in messages)
        assert messages[-1].type == NLMSG_DONE
        assert {m.body.name for m in messages if m.type == RTM_NEWLINK} == {"lo", "eq0", "eq1"}
    finally:
        system.close(fd)


def test_getlink_by_name(system):
    system, netns = system
    fd = system.open(0, 1 << 20, netns)
    try:
        for name, seq in (("eq0", 7), ("nope0", 8)):
            body = encode.ifinfomsg() + encode.string_attribute(3, name)
            system.send(fd, encode.message(RTM_GETLINK, NLM_F_REQUEST, seq, body))
        replies = [m for d in _replies(system, fd) + _replies(system, fd) for m in decode_fast(d)]
        found, missing = replies
        assert (found.type, found.seq, found.body.name) == (RTM_NEWLINK, 7, "eq0")
        assert (missing.type, missing.seq, missing.body.errno) == (NLMSG_ERROR, 8, errno.ENODEV)
    finally:
        system.close(fd)


def test_real_socket_flags(namespace):
    system = RealNetlinkSystem()
    fd = system.open(MONITOR_GROUPS, 4 << 20, namespace.name)
    try:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        sock = socket.socket(fileno=fd)
        try:
            # SO_RCVBUFFORCE as root: the kernel doubles what was asked.
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 4 << 20
        finally:
            sock.detach()
    finally:
        system.close(fd)
