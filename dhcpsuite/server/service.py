# -*- test-case-name: tests.unit.test_server_service -*-
"""
The DHCPv4 server as a Twisted service: opens one socket per interface,
the lease store, and the periodic reclaim of lapsed leases; closes all of
them on stop.
"""

from __future__ import annotations

import collections
import os
import socket
from ipaddress import IPv4Address
from typing import Any, Callable

from twisted.application import service
from twisted.internet import task
from twisted.internet.defer import DeferredList, inlineCallbacks, maybeDeferred
from twisted.logger import Logger

from dhcpsuite.dhcp4.constants import SERVER_PORT
from zope.interface import implementer

from dhcpsuite.interfaces import IComponentHealth, ILeaseStore
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server import sockets
from dhcpsuite.server.config import ServerConfig
from dhcpsuite.server.decide import ServerCore
from dhcpsuite.server.protocol import ServerProtocol

LEASE_DB_NAME = "server-leases.sqlite3"


class ServerStartError(Exception):
    """
    The server cannot start (no address on an interface, socket refused...).
    """


@implementer(IComponentHealth)
class ServerService(service.Service):
    log = Logger()
    name = "dhcp4-server"

    def __init__(
        self,
        config: ServerConfig,
        state_dir: str,
        reactor: Any = None,
        store: ILeaseStore | None = None,
        open_socket: Callable[[str, int], socket.socket] = sockets.open_interface_socket,
        interface_address: Callable[[str], IPv4Address | None] = sockets.interface_ipv4_address,
        port: int = SERVER_PORT,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.config = config
        self.state_dir = state_dir
        self.reactor = reactor
        self.store = store
        self._open_socket = open_socket
        self._interface_address = interface_address
        self.port_number = port
        self.counters: collections.Counter = collections.Counter()
        self.core: ServerCore | None = None
        self.ports: list = []
        self._reclaim: task.LoopingCall | None = None
        self._opened = False
        # A store we made we also close and drop on stop, so a restart opens it afresh.
        self._own_store = False

    def privilegedStartService(self) -> None:
        # Sockets on port 67 and SO_BINDTODEVICE need privileges twistd may drop.
        self._open()
        super().privilegedStartService()

    def startService(self) -> None:
        self._open()
        super().startService()

    def _open(self) -> None:
        if self._opened:
            return
        try:
            self._open_everything()
        except BaseException:
            self._close_ports()
            if self._own_store and self.store is not None:
                self.store.close()
                self.store = None
            raise
        self._opened = True

    def _open_everything(self) -> None:
        server_ids = {}
        for subnet in self.config.subnets:
            if subnet.interface and subnet.server_address is None:
                address = self._interface_address(subnet.interface)
                if address is None:
                    raise ServerStartError(
                        f"interface {subnet.interface} has no IPv4 address (or does not exist); "
                        f"give it one or set server_address for subnet {subnet.network}"
                    )
                server_ids[subnet.interface] = address
        if self.store is None:
            self.store = self._make_store()
            self._own_store = True
        self.core = ServerCore(self.config, self.store, server_ids, clock=self.reactor.seconds)
        for ifname in self.config.interfaces:
            try:
                sock = self._open_socket(ifname, self.port_number)
            except OSError as e:
                self._close_ports()
                raise ServerStartError(f"cannot listen on {ifname} port {self.port_number}: {e.strerror or e}") from None
            try:
                protocol = ServerProtocol(
                    self.core, ifname, self.counters, self.config.log_exchanges, _add_neighbour
                )
                port = self.reactor.adoptDatagramPort(sock.fileno(), socket.AF_INET, protocol, 65535)
                # Return to the reactor every few dozen datagrams so commit
                # completions (which release ACKs) are not held behind a long read burst.
                port.maxThroughput = 16 * 1024
            finally:
                # The reactor adopted a duplicate of the descriptor.
                sock.close()
            self.ports.append(port)
            self.log.info(
                "DHCPv4 server listening on {interface} port {port}", interface=ifname, port=self.port_number
            )
        self._reclaim = task.LoopingCall(self.core.reclaim)
        self._reclaim.clock = self.reactor
        self._reclaim.start(self.config.reclaim_interval, now=False)

    def _make_store(self) -> ILeaseStore:
        if self.config.lease_store == "memory":
            return MemoryLeaseStore()
        from dhcpsuite.leases.sqlite import SQLiteLeaseStore

        return SQLiteLeaseStore(os.path.join(self.state_dir, LEASE_DB_NAME), reactor=self.reactor)

    def _close_ports(self) -> list:
        results = [maybeDeferred(port.stopListening) for port in self.ports]
        self.ports = []
        return results

    def health(self) -> dict:
        return {
            "ok": self.running and bool(self.ports),
            "interfaces": list(self.config.interfaces),
            "store": self.config.lease_store,
        }

    def pool_usage(self) -> list[dict]:
        """
        Per pool: its size, the addresses held now (bound, offered or in
        probation) and the free remainder.
        """
        now = self.reactor.seconds()
        held: collections.Counter = collections.Counter()
        if self.store is not None:
            for lease in self.store.leases():
                if lease.holds(now):
                    held[lease.address] += 1
        usage = []
        for subnet in self.config.subnets:
            for pool in subnet.pools:
                used = sum(1 for address in held if address in pool)
                usage.append(
                    {
                        "subnet": str(subnet.network),
                        "pool": f"{pool.first}-{pool.last}",
                        "size": pool.size,
                        "active": used,
                        "free": pool.size - used,
                    }
                )
        return usage

    @inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._reclaim is not None and self._reclaim.running:
            self._reclaim.stop()
        yield DeferredList(self._close_ports())
        if self.store is not None:
            yield self.store.close()
            if self._own_store:
                self.store = None
                self._own_store = False
        self._opened = False
        self.log.info("DHCPv4 server stopped")


def _add_neighbour(ifname: str, address: IPv4Address, mac: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        sockets.add_arp_entry(s.fileno(), ifname, address, mac)


def make_server_service(config: ServerConfig, state_dir: str, reactor: Any = None) -> ServerService:
    return ServerService(config, state_dir, reactor=reactor)
