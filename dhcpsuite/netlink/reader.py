# -*- test-case-name: tests.unit.test_netlink_reader -*-
"""
The netlink reader: an rtnetlink socket as a Twisted L{FileDescriptor}
(modelled on C{twisted.pair.tuntap.TuntapPort}) that keeps the interface
table and tells listeners of every change.

On start it dumps links, addresses and routes. When the kernel reports
C{ENOBUFS} (it dropped notifications) the reader counts it and schedules a
rate-limited re-dump; the dump is applied like notifications, and whatever it
did not mention is swept, so listeners get an event for every difference.
"""

from __future__ import annotations

import errno
import time
from typing import Any

from twisted.internet import abstract, defer
from twisted.logger import Logger
from twisted.python import failure
from zope.interface import implementer
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall

from dhcpsuite.interfaces import INetlinkListener, INetlinkReader
from dhcpsuite.netlink import encode
from dhcpsuite.netlink.constants import (
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, RTM_DELADDR, RTM_DELLINK,
    RTM_DELROUTE, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE,
)
from dhcpsuite.netlink.decode import DECODERS
from dhcpsuite.netlink.events import Overrun, Resynced, Synced
from dhcpsuite.netlink.readiness import ReadinessTracker
from dhcpsuite.netlink.system import MONITOR_GROUPS, WOULD_BLOCK, INetlinkSystem, RealNetlinkSystem
from dhcpsuite.netlink.table import InterfaceTable

KINDS = ("link", "address", "route")
_DUMP_REQUESTS = {
    "link": (RTM_GETLINK, encode.ifinfomsg()),
    "address": (RTM_GETADDR, encode.ifaddrmsg(0, 0, 0)),
    "route": (RTM_GETROUTE, encode.rtmsg(0)),
}
_RECEIVE_SIZE = 1 << 18


class _Dump:
    def __init__(self, kinds: list[str], seq: int, initial: bool) -> None:
        self.pending = list(kinds)
        self.kinds = tuple(kinds)
        self.kind = self.pending.pop(0)
        self.seq = seq
        self.initial = initial
        self.seen: set = set()
        self.changes = 0
        self.interrupted = False


@implementer(INetlinkReader)
class NetlinkReader(abstract.FileDescriptor):
    """
    @ivar table: the L{InterfaceTable} (links, addresses, routes).
    @ivar readiness: the L{dhcpsuite.netlink.readiness.ReadinessTracker}.
    @ivar overruns: how many times the kernel reported C{ENOBUFS}.
    @ivar resyncs: how many re-dumps (after the initial one) completed.
    @ivar max_reads: datagrams read in one reactor iteration at most, so a
        burst cannot starve the rest of the reactor.
    """

    log = Logger()
    max_reads = 1024

    def __init__(
        self,
        reactor: Any = None,
        system: INetlinkSystem | None = None,
        receive_buffer: int = 8 << 20,
        resync_min_interval: float = 1.0,
        debounce: float = 0.0,
        netns: str | None = None,
        decoder: str = "fast",
        groups: int = MONITOR_GROUPS,
    ) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self._system = system if system is not None else RealNetlinkSystem()
        self._receive_buffer = receive_buffer
        self._netns = netns
        self._groups = groups
        self._decode = DECODERS[decoder]
        self.resync_min_interval = resync_min_interval
        self._fd = -1
        self._portid = 0
        self._seq = int(time.time()) & 0x7FFFFFFF
        self.table = InterfaceTable()
        self._listeners: tuple[INetlinkListener, ...] = ()
        self._dump: _Dump | None = None
        self._wanted: set[str] = set()
        self._resync_call: IDelayedCall | None = None
        self._last_dump_end: float | None = None
        self._synced = False
        self._sync_waiters: list[defer.Deferred] = []
        self.overruns = 0
        self.resyncs = 0
        self.events_delivered = 0
        self.readiness = ReadinessTracker(self.table, self.reactor, debounce=debounce)
        self.add_listener(self.readiness, replay=False)

    # Life cycle

    def open(self) -> None:
        """
        Open and bind the socket (needs privileges: call from
        C{privilegedStartService}). Idempotent.
        """
        if self._fd < 0:
            self._fd = self._system.open(self._groups, self._receive_buffer, self._netns)
            self._portid = self._system.portid(self._fd)
            self.connected = 1
            self.disconnected = 0

    def start(self) -> None:
        """
        Start reading and dump the kernel's state.
        """
        self.open()
        self.startReading()
        self._wanted.update(KINDS)
        self._schedule_dump(now=True)

    def stop(self) -> None:
        """
        Stop reading, cancel timers and close the socket.
        """
        if self._fd >= 0 or self._resync_call is not None:
            self.connectionLost(failure.Failure(ConnectionDone("netlink reader stopped")))

    def connectionLost(self, reason: failure.Failure) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)
        if self._resync_call is not None and self._resync_call.active():
            self._resync_call.cancel()
        self._resync_call = None
        self._dump = None
        if self._fd >= 0:
            self._system.close(self._fd)
        self._fd = -1
        self.readiness.stop()
        waiters, self._sync_waiters = self._sync_waiters, []
        for waiter in waiters:
            waiter.errback(reason)

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return "NetlinkReader"

    @property
    def synced(self) -> bool:
        return self._synced

    def when_synced(self) -> defer.Deferred:
        """
        @return: a L{Deferred} that fires once the initial dump is applied.
        """
        if self._synced:
            return defer.succeed(self)
        d: defer.Deferred = defer.Deferred()
        self._sync_waiters.append(d)
        return d

    # Listeners

    def add_listener(self, listener: INetlinkListener, replay: bool = True) -> None:
        """
        Register C{listener}. With C{replay}, it is first given the current
        table as C{*Added} events, so it sees everything that happened before
        it subscribed and then every change after.
        """
        self._listeners += (listener,)
        if replay:
            for event in list(self.table.snapshot()):
                self._deliver(listener, event)

    def remove_listener(self, listener: INetlinkListener) -> None:
        if listener in self._listeners:
            listeners = list(self._listeners)
            listeners.remove(listener)
            self._listeners = tuple(listeners)

    def _emit(self, events: list) -> None:
        # A tuple, replaced on (un)subscription: a listener that subscribes
        # or leaves from its callback changes the next event's audience only.
        self.events_delivered += len(events)
        for event in events:
            for listener in self._listeners:
                try:
                    listener.netlink_event(event)
                except Exception:
                    self._failed(listener, event)

    def _deliver(self, listener: INetlinkListener, event: object) -> None:
        try:
            listener.netlink_event(event)
        except Exception:
            self._failed(listener, event)

    def _failed(self, listener: INetlinkListener, event: object) -> None:
        self.log.failure("Netlink listener {listener!r} failed on {event!r}", listener=listener, event=event)

    # Reading

    def doRead(self) -> None:
        for _ in range(self.max_reads):
            if self._fd < 0:
                return
            try:
                data = self._system.recv(self._fd, _RECEIVE_SIZE)
            except OSError as e:
                if e.errno in WOULD_BLOCK:
                    return
                if e.errno == errno.ENOBUFS:
                    self._overrun()
                    continue
                self.log.error("Netlink socket error: {error}", error=e)
                return
            if not data:
                return
            self.datagram_received(data)

    def datagram_received(self, data: bytes) -> None:
        """
        Apply every message in one datagram from the kernel.
        """
        table = self.table
        dump = self._dump
        for kind, flags, seq, pid, body, raw in self._decode(data, table.names, table.known):
            in_dump = dump is not None and seq == dump.seq and pid == self._portid
            if in_dump:
                if kind == NLMSG_DONE:
                    self._dump_part_done(dump, flags)
                    dump = self._dump
                    continue
                if kind == NLMSG_ERROR:
                    self._dump_failed(dump, body)
                    dump = self._dump
                    continue
                if flags & NLM_F_DUMP_INTR:
                    dump.interrupted = True
            if body is None:
                continue
            events = self._apply(kind, flags, body, raw)
            if dump is not None:
                self._mark_seen(dump, kind, body)
                if in_dump:
                    dump.changes += len(events)
            if events:
                self._emit(events)

    def _apply(self, kind: int, flags: int, body: Any, raw: bytes = b"") -> list:
        table = self.table
        if kind == RTM_NEWROUTE:
            return table.put_route(body, bool(flags & NLM_F_REPLACE), raw)
        if kind == RTM_NEWADDR:
            return table.put_address(body, raw)
        if kind == RTM_DELADDR:
            return table.remove_address(body) + table.ipv4_address_gone(body)
        if kind == RTM_DELROUTE:
            return table.remove_route(body)
        if kind == RTM_NEWLINK:
            previous = table.links.get(body.ifindex)
            events = table.put_link(body)
            if previous is not None and previous.admin_up and not body.admin_up:
                events += table.link_went_down(body.ifindex)
                self._request_resync(("route",))
            return events
        if kind == RTM_DELLINK:
            events = table.remove_link(body.ifindex)
            if events:
                self._request_resync(("route",))
            return events
        return []

    @staticmethod
    def _mark_seen(dump: _Dump, kind: int, body: Any) -> None:
        if dump.kind == "address" and kind == RTM_NEWADDR:
            dump.seen.add(body.key())
        elif dump.kind == "route" and kind == RTM_NEWROUTE:
            dump.seen.add(body)
        elif dump.kind == "link" and kind == RTM_NEWLINK:
            dump.seen.add(body.ifindex)

    # Overruns and dumps

    def _overrun(self) -> None:
        self.overruns += 1
        self.log.warn(
            "Netlink receive buffer overrun ({count} so far): resynchronising", count=self.overruns
        )
        self._emit([Overrun(self.overruns)])
        if self._dump is not None:
            # Notifications for kinds already dumped may be among the lost.
            self._dump.interrupted = True
        self._request_resync(KINDS)

    def request_resync(self) -> None:
        """
        Ask for a full re-dump (rate-limited).
        """
        self._request_resync(KINDS)

    def _request_resync(self, kinds: tuple) -> None:
        self._wanted.update(kinds)
        if self._dump is None and self._resync_call is None and self._fd >= 0:
            self._schedule_dump()

    def _schedule_dump(self, now: bool = False) -> None:
        delay = 0.0
        if not now and self._last_dump_end is not None:
            delay = max(0.0, self._last_dump_end + self.resync_min_interval - self.reactor.seconds())
        self._resync_call = self.reactor.callLater(delay, self._start_dump)

    def _start_dump(self) -> None:
        self._resync_call = None
        if self._fd < 0 or not self._wanted:
            return
        kinds = [k for k in KINDS if k in self._wanted]
        self._wanted.clear()
        self._seq = (self._seq + 1) & 0x7FFFFFFF or 1
        self._dump = _Dump(kinds, self._seq, initial=not self._synced)
        self._send_dump_request()

    def _send_dump_request(self) -> None:
        dump = self._dump
        assert dump is not None
        request_type, body = _DUMP_REQUESTS[dump.kind]
        dump.seen = set()
        self._system.send(
            self._fd, encode.message(request_type, NLM_F_REQUEST | NLM_F_DUMP, dump.seq, body)
        )

    def _dump_part_done(self, dump: _Dump, flags: int) -> None:
        if flags & NLM_F_DUMP_INTR:
            dump.interrupted = True
        events = self.table.sweep(dump.kind, dump.seen)
        dump.changes += len(events)
        self._emit(events)
        if dump.pending:
            dump.kind = dump.pending.pop(0)
            self._send_dump_request()
            return
        self._dump_finished(dump)

    def _dump_failed(self, dump: _Dump, error: Any) -> None:
        self.log.warn("Netlink {kind} dump failed: errno {errno}", kind=dump.kind, errno=error.errno)
        self._wanted.update(dump.kinds)
        self._dump = None
        self._last_dump_end = self.reactor.seconds()
        self._schedule_dump()

    def _dump_finished(self, dump: _Dump) -> None:
        self._dump = None
        self._last_dump_end = self.reactor.seconds()
        if dump.interrupted:
            self._wanted.update(dump.kinds)
        if dump.initial:
            self._synced = True
            self._emit([Synced()])
            waiters, self._sync_waiters = self._sync_waiters, []
            for waiter in waiters:
                waiter.callback(self)
        else:
            self.resyncs += 1
            self.log.info(
                "Netlink resync of {kinds} done: {changes} changes", kinds=",".join(dump.kinds), changes=dump.changes
            )
            self._emit([Resynced(dump.kinds, dump.changes)])
        if self._wanted:
            self._schedule_dump()

    def health(self) -> dict:
        return {
            "ok": self._fd >= 0 and self._synced,
            "links": len(self.table.links),
            "addresses": len(self.table.addresses),
            "routes": len(self.table.routes),
            "overruns": self.overruns,
            "resyncs": self.resyncs,
        }
