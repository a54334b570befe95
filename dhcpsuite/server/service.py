# -*- test-case-name: tests.unit.test_server_service -*-
"""
The DHCPv4 server as a Twisted service: opens one socket per interface,
the lease store, and the periodic reclaim of lapsed leases; closes all of
them on stop.
"""

from __future__ import annotations

import collections
import gc
import socket
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Callable, Mapping

from twisted.application import service
from twisted.internet import task
from twisted.internet.defer import DeferredList, inlineCallbacks, maybeDeferred
from twisted.logger import Logger

from dhcpsuite.dhcp4.constants import SERVER_PORT
from dhcpsuite.config import ConfigError
from dhcpsuite.errors import StartupError
from zope.interface import implementer

from dhcpsuite.history.events import RequestContext, request_context
from dhcpsuite.history.recorder import HistoryRecorder, open_history
from dhcpsuite.interfaces import ICluster, IComponentHealth, ILeaseStore, ILinkSender, IReadinessListener, IReconfigurable
from dhcpsuite.leases.stores import LEASE_DB_NAME, make_share, make_store, served_pools  # noqa: F401  (LEASE_DB_NAME: where it always was)
from dhcpsuite.server import sockets
from dhcpsuite.server.config import AddressRange, ServerConfig, SubnetConfig
from dhcpsuite.server.decide import ServerCore
from dhcpsuite.server.packetsocket import open_packet_sender
from dhcpsuite.server.protocol import AckBacklog, ServerProtocol
from dhcpsuite.server.sweep import SlicedSweep
from dhcpsuite.server.usage import PoolUsage
from dhcpsuite.server.wanoptions import WanOptionFeed

if TYPE_CHECKING:
    from dhcpsuite.netlink.readiness import ReadinessTracker
    from dhcpsuite.netlink.service import NetlinkService

# Seconds between housekeeping steps (see _open_everything).
HOUSEKEEPING_TICK = 1.0
# Allocations between two collections of the collector's youngest
# generation while the server runs (Python's default: 700).
GC_YOUNGEST_THRESHOLD = 7000


class ServerStartError(StartupError):
    """
    The server cannot start (no address on an interface, socket refused...).
    """


def collect_less() -> None:
    """
    Make the cyclic garbage collector cheaper for a server answering
    thousands of requests a second, once the lease store is loaded: what
    lives now (modules, configuration, the leases read at start) goes into
    the permanent generation (C{gc.freeze}), so no full collection walks it
    again, and the youngest generation is collected every
    L{GC_YOUNGEST_THRESHOLD} allocations. A request allocates a few dozen
    short-lived containers: with Python's defaults a young collection ran
    every ~25 requests and a full one every few thousand, each walking every
    tracked object and holding the reactor 27-73 ms with 20,000 leases;
    the collector cost 6-12 us per DORA of about 100, and 2.7 after
    (in-process, BENCHMARKS.md). Reference counting frees the requests'
    objects either way; this only spaces out the search for cycles.
    """
    gc.freeze()
    youngest, middle, oldest = gc.get_threshold()
    if youngest < GC_YOUNGEST_THRESHOLD:
        gc.set_threshold(GC_YOUNGEST_THRESHOLD, middle, oldest)


@implementer(IComponentHealth, IReadinessListener, IReconfigurable)
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
        readiness: ReadinessTracker | None = None,
        addresses_of: Callable[[str], list] | None = None,
        link_senders: Mapping[str, Callable[[str], ILinkSender] | None] | None = None,
        registry: Any = None,
        adopt: Callable[[Any, int, Any, int], Any] = sockets.adopt_port,
        collector: Callable[[], None] | None = None,
    ) -> None:
        """
        @param readiness: the netlink reader's readiness tracker; when given,
            an interface is served only while it is up, has carrier and has
            an address in its subnet (its socket is opened and closed with
            that), and the server identifier is read from C{addresses_of}.
        @param addresses_of: the IPv4 interfaces (address/prefix) now on an
            interface, from the netlink table.
        @param link_senders: by C{[server] link_replies} value, what opens an
            interface's L{ILinkSender} (L{None}: replies to clients on the
            link go through the UDP socket). L{make_server_service} passes
            L{LINK_SENDERS}; without it every reply takes the UDP socket.
        @param registry: the WAN lease registry, for subnet options given
            as C{wan:INTERFACE} (L{dhcpsuite.server.wanoptions}); without it
            those options are always their fallback.
        @param adopt: makes the reactor's port of a socket;
            L{make_server_service} passes L{sockets.adopt_stamped_port},
            whose receive timestamps let the server shed stale DISCOVERs.
        @param collector: called once the lease store is loaded, to set the
            process's garbage collector for serving; L{make_server_service}
            passes L{collect_less}, tests leave the process's alone.
        """
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.config = config
        self.state_dir = state_dir
        self.reactor = reactor
        self.store = store
        self._open_socket = open_socket
        self._adopt = adopt
        self._collector = collector
        self._open_link = None if link_senders is None else link_senders[config.link_replies]
        self._interface_address = interface_address
        self.port_number = port
        self.counters: collections.Counter = collections.Counter()
        # One for every interface: they share the store's commits.
        self.backlog = AckBacklog(config.max_pending_acks)
        self.core: ServerCore | None = None
        self.readiness = readiness
        self._addresses_of = addresses_of
        self._ports: dict[str, Any] = {}
        self._protocols: dict[str, ServerProtocol] = {}
        self._housekeeping: task.LoopingCall | None = None
        self._sweep: SlicedSweep | None = None
        self._usage: PoolUsage | None = None
        # Where each max_leases subnet's count is in the usage's figures.
        self._subnet_slots: dict[int, int] = {}
        self._opened = False
        self.registry = registry
        self._wan_feed: WanOptionFeed | None = None
        # A store we made we also close and drop on stop, so a restart opens it afresh.
        self._own_store = False
        # The lease history ([server.history]), while open.
        self.history: HistoryRecorder | None = None

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
            self._close_history()
            if self._own_store and self.store is not None:
                self._forget_usage()
                self.store.close()
                self.store = None
            raise
        self._opened = True

    @property
    def ports(self) -> list:
        return list(self._ports.values())

    def _open_everything(self) -> None:
        if self.store is None:
            self.store = self._make_store()
            self._own_store = True
        # The one scan of the store for usage, here rather than at the first scrape.
        self._usage_of(self.store)
        if self._collector is not None:
            self._collector()
        self._open_history()
        if self.readiness is None:
            self._open_static()
        else:
            self._open_when_ready()
        # Housekeeping in small steps, every tick: a slice of the reclaim
        # sweep (every lease once per reclaim interval) and the usage's due
        # entries (taken off even when nobody reads the figures, so its heap
        # does not grow). Small steps because each whole pass holds the
        # reactor for tenths of a second at 4,000 new clients a second, long
        # enough to drop requests.
        self._sweep = SlicedSweep(self.store.addresses, round(self.config.reclaim_interval / HOUSEKEEPING_TICK))
        self._housekeeping = task.LoopingCall(self._housekeep)
        self._housekeeping.clock = self.reactor
        self._housekeeping.start(HOUSEKEEPING_TICK, now=False)

    def _request_context(self) -> RequestContext | None:
        deciding = self.core.request if self.core is not None else None
        return None if deciding is None else request_context(*deciding)

    def _housekeep(self) -> None:
        self.core.reclaim(addresses=self._sweep.next_slice())
        if self._usage is not None:
            self._usage.held()

    def _open_static(self) -> None:
        """
        Without netlink: every interface must be there, addressed, now.
        """
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
        self.core = ServerCore(self.config, self.store, server_ids, clock=self.reactor.seconds,
                               holding=self._held_in_subnet, share=make_share(self.config, self.store))
        self._follow_wan(self.core, self.config)
        for ifname in self.config.interfaces:
            self._listen(ifname)

    def _open_when_ready(self) -> None:
        """
        With netlink (the vsomeip pattern): serve an interface only once it
        is up, has carrier and is addressed in its subnet; stop when not.
        """
        self.core = ServerCore(self.config, self.store, {}, clock=self.reactor.seconds, pending_server_ids=True,
                               holding=self._held_in_subnet, share=make_share(self.config, self.store))
        self._follow_wan(self.core, self.config)
        self.readiness.add_listener(self)
        for ifname in self.config.interfaces:
            subnet = next(
                (s for s in self.config.subnets if s.interface == ifname and s.server_address is None), None
            )
            if self.readiness.watch(ifname, subnet=subnet.network if subnet is not None else None):
                self.readiness_changed(ifname, True)
            else:
                self.log.info("Waiting for {interface} to be up and addressed before serving it", interface=ifname)

    def readiness_changed(self, ifname: str, ready: bool) -> None:
        if ifname not in self.config.interfaces or self.core is None:
            return
        if ready:
            self._learn_server_id(ifname)
            self._serve(ifname)
            return
        port = self._ports.pop(ifname, None)
        self._protocols.pop(ifname, None)
        self.core.set_server_id(ifname, None)
        if port is not None:
            port.stopListening()
            self.log.warn("Stopped serving {interface}: it is down or lost its address", interface=ifname)

    def _follow_wan(self, core: ServerCore, config: ServerConfig) -> None:
        """
        Give C{core} the WAN-fed option blocks of its subnets now, and again
        whenever a WAN lease they name changes (computed then, not per packet).
        """
        if not any(subnet.wan_options for subnet in config.subnets):
            self._unfollow_wan()
            return
        if self._wan_feed is None:
            self._wan_feed = WanOptionFeed(self.registry if self.registry is not None else _NoLeases(), core.set_subnet_options)
            if self.registry is not None:
                self.registry.add_listener(self._wan_feed)
            else:
                self.log.warn("Subnet options name wan: interfaces, but neither [client] nor [ingest] is configured "
                              "to learn WAN leases: their wan_fallback_* values are served")
        self._wan_feed.apply = core.set_subnet_options
        self._wan_feed.follow(config.subnets)

    def _unfollow_wan(self) -> None:
        if self._wan_feed is not None and self.registry is not None:
            self.registry.remove_listener(self._wan_feed)
        self._wan_feed = None

    def _serve(self, ifname: str) -> None:
        """
        Listen on an interface that became ready or was added by a reload;
        a socket refused is counted and logged, not fatal.
        """
        if ifname in self._ports:
            return
        try:
            self._listen(ifname)
        except ServerStartError as e:
            self.counters["interface-open-failed"] += 1
            self.log.error("Cannot serve {interface}: {error}", interface=ifname, error=str(e))

    def _learn_server_id(self, ifname: str) -> None:
        """
        Our address in the interface's subnet becomes its server identifier.
        Told again when the interface is renumbered: the identifier stays
        while its address stays, else moves to another one in the subnet.
        """
        addresses = self._addresses_of(ifname) if self._addresses_of is not None else []
        for subnet in self.config.subnets:
            if subnet.interface != ifname or subnet.server_address is not None:
                continue
            inside = [a.ip for a in addresses if a.version == 4 and a.ip in subnet.network]
            previous = self.core.server_id_of(subnet)
            ours = previous if previous in inside else next(iter(inside), None)
            if previous is not None and ours != previous:
                self.log.info("Server identifier on {interface}: {old} -> {new}", interface=ifname,
                              old=previous, new=ours)
            self.core.set_server_id(ifname, ours)

    def _listen(self, ifname: str) -> None:
        try:
            sock = self._open_socket(ifname, self.port_number)
        except OSError as e:
            raise ServerStartError(f"cannot listen on {ifname} port {self.port_number}: {e.strerror or e}") from None
        link = self._link_sender(ifname)
        try:
            protocol = ServerProtocol(
                self.core, ifname, self.counters, self.config.log_exchanges, _add_neighbour, clock=self.reactor,
                link=link, backlog=self.backlog, max_queue_wait=self.config.max_queue_wait,
            )
            port = self._adopt(self.reactor, sock.fileno(), protocol, 65535)
            # Return to the reactor every few dozen datagrams so commit
            # completions (which release ACKs) are not held behind a long read burst.
            port.maxThroughput = 16 * 1024
        except BaseException:
            if link is not None:
                link.close()
            raise
        finally:
            # The reactor adopted a duplicate of the descriptor.
            sock.close()
        self._ports[ifname] = port
        self._protocols[ifname] = protocol
        self.log.info("DHCPv4 server listening on {interface} port {port}", interface=ifname, port=self.port_number)

    def _link_sender(self, ifname: str) -> ILinkSender | None:
        if self._open_link is None:
            return None
        try:
            return self._open_link(ifname)
        except OSError as e:
            self.counters["send-failure:packet-socket-open"] += 1
            self.log.warn(
                "No packet socket on {interface} ({error}): replies to clients without an address"
                " need a neighbour entry (CAP_NET_RAW is missing?)",
                interface=ifname, error=e.strerror or str(e),
            )
            return None

    def _make_store(self) -> ILeaseStore:
        return make_store(self.config, self.state_dir, self.reactor)

    def _close_ports(self) -> list:
        results = [maybeDeferred(port.stopListening) for port in self._ports.values()]
        self._ports = {}
        self._protocols = {}
        return results

    def _open_history(self) -> None:
        if self.config.history.enabled and self.history is None:
            self.history = open_history(self.config, self.state_dir, self.reactor, self._request_context)
            self.history.follow(self.store)

    def _close_history(self):
        history, self.history = self.history, None
        return history.close() if history is not None else None

    def health(self) -> dict:
        return {
            "ok": self.running and bool(self.ports),
            "interfaces": list(self.config.interfaces),
            "store": self.config.lease_store,
        }

    def pool_usage(self) -> list[dict]:
        """
        Per pool: its size, the addresses held now (bound, offered or in
        probation: L{Lease.holds}) and the free remainder. Read from counts
        kept as the store changes (L{PoolUsage}), so a scrape does not
        scan the leases.
        """
        pools = self._pools()
        held = self._usage_of(self.store).held() if self.store is not None else [0] * len(pools)
        return [
            {
                "subnet": str(subnet.network),
                "pool": f"{pool.first}-{pool.last}",
                "size": pool.size,
                "active": used,
                "free": pool.size - used,
            }
            for (subnet, pool), used in zip(pools, held)
        ]

    def _usage_of(self, store: ILeaseStore) -> PoolUsage:
        # Also before start and after stop with a store that was given to
        # us: the figures then describe that store, so the API and /metrics
        # show the same pools whether or not the service is running.
        if self._usage is None or self._usage.store is not store:
            self._forget_usage()
            self._usage, self._subnet_slots = self._make_usage(self.config, store)
        return self._usage

    def _make_usage(self, config: ServerConfig, store: ILeaseStore) -> tuple[PoolUsage, dict[int, int]]:
        # The pools, then each subnet with max_leases as a whole range.
        ranges = [pool for subnet in config.subnets for pool in subnet.pools]
        slots = {}
        for subnet in config.subnets:
            if subnet.max_leases:
                slots[id(subnet)] = len(ranges)
                network = subnet.network
                ranges.append(AddressRange(network.network_address, network.broadcast_address))
        return PoolUsage(ranges, store, self.reactor.seconds), slots

    def _held_in_subnet(self, subnet: SubnetConfig, now: float) -> int:
        """
        For C{max_leases}: the subnet's held addresses, from the kept counts.
        """
        return self._usage_of(self.store).held(now)[self._subnet_slots[id(subnet)]]

    def _pools(self) -> list[tuple[SubnetConfig, AddressRange]]:
        return [(subnet, pool) for subnet in self.config.subnets for pool in subnet.pools]

    def _forget_usage(self) -> None:
        if self._usage is not None:
            self._usage.close()
            self._usage = None

    # Live reconfiguration (dhcpsuite.reload) ------------------------------

    def prepare_reconfigure(self, new: ServerConfig) -> Callable[[], None]:
        """
        Build a core for C{new} over the same store (the store, its pending
        commits and every lease stay; ACKs waiting for a commit still go
        out); the returned function swaps it in, with pool counts for the
        new pools, between two datagrams. Subnets, pools, reservations,
        options, lease times, rate limits and interfaces all change this way.

        @raise ConfigError: a new subnet's interface has no address to be
            the server identifier (without netlink), as at start.
        """
        if self.core is None:
            return lambda: setattr(self, "config", new)
        cluster = ICluster(self.store, None)
        if cluster is not None:
            refused = cluster.pools_refused(served_pools(new))
            if refused:
                raise ConfigError("server.subnet", refused)
        server_ids: dict[str, IPv4Address] = {}
        for index, subnet in enumerate(new.subnets):
            ifname = subnet.interface
            if not ifname or subnet.server_address is not None or ifname in server_ids:
                continue
            if self.readiness is not None:
                # Learnt from the interface's addresses: kept while inside the
                # subnet (readiness tells it anew otherwise).
                known = next(
                    (s.server_id for s in self.core.subnets
                     if s.config.interface == ifname and s.config.server_address is None
                     and s.server_id is not None and s.server_id in subnet.network),
                    None,
                )
            else:
                # As at start: the interface's address now.
                known = self._interface_address(ifname)
                if known is None:
                    raise ConfigError(
                        f"server.subnet[{index}].interface",
                        f"interface {ifname} has no IPv4 address (or does not exist); "
                        f"give it one or set server_address for subnet {subnet.network}",
                    )
            if known is not None:
                server_ids[ifname] = known
        core = ServerCore(new, self.store, server_ids, clock=self.reactor.seconds,
                          pending_server_ids=self.readiness is not None, holding=self._held_in_subnet,
                          share=make_share(new, self.store))
        core.keep_rate_limits_of(self.core)
        return lambda: self._apply(new, core)

    def _apply(self, new: ServerConfig, core: ServerCore) -> None:
        old = self.config
        cluster = ICluster(self.store, None)
        if cluster is not None:
            cluster.serve_pools(served_pools(new))
        self._forget_usage()
        # The pool counts for the new pools (a scan of the store, as at
        # start), made here so that a reload not applied leaves no observer.
        self._usage, self._subnet_slots = self._make_usage(new, self.store)
        self.config, self.core = new, core
        self._follow_wan(core, new)
        if new.history != old.history:
            # What is queued is still written; the new settings apply from here.
            self._close_history()
            try:
                self._open_history()
            except StartupError as e:
                self.counters["history-open-failed"] += 1
                self.log.error("Lease history off after the reload: {error}", error=str(e))
        for protocol in self._protocols.values():
            protocol.core = core
            protocol.log_exchanges = new.log_exchanges
        if new.reclaim_interval != old.reclaim_interval and self._sweep is not None:
            self._sweep = SlicedSweep(self.store.addresses, round(new.reclaim_interval / HOUSEKEEPING_TICK))
        for ifname in old.interfaces:
            if ifname not in new.interfaces:
                self._stop_serving(ifname)
                if self.readiness is not None:
                    self.readiness.unwatch(ifname)
        for ifname in new.interfaces:
            if self.readiness is not None:
                subnet = next((s for s in new.subnets if s.interface == ifname and s.server_address is None), None)
                # Watched again: a subnet on it may have changed.
                if self.readiness.watch(ifname, subnet=subnet.network if subnet is not None else None):
                    self.readiness_changed(ifname, True)
                else:
                    self._stop_serving(ifname)
            else:
                self._serve(ifname)
        self.log.info("DHCPv4 server reconfigured: {subnets} subnets on {interfaces}",
                      subnets=len(new.subnets), interfaces=",".join(new.interfaces))

    def _stop_serving(self, ifname: str) -> None:
        port = self._ports.pop(ifname, None)
        self._protocols.pop(ifname, None)
        if port is not None:
            port.stopListening()
            self.log.info("Stopped serving {interface}: no longer configured", interface=ifname)

    @inlineCallbacks
    def stopService(self):
        super().stopService()
        self._unfollow_wan()
        if self.readiness is not None:
            self.readiness.remove_listener(self)
            for ifname in self.config.interfaces:
                self.readiness.unwatch(ifname)
        if self._housekeeping is not None and self._housekeeping.running:
            self._housekeeping.stop()
        yield DeferredList(self._close_ports())
        yield self._close_history()
        if self.store is not None:
            yield self.store.close()
            if self._own_store:
                self._forget_usage()
                self.store = None
                self._own_store = False
        self._opened = False
        self.log.info("DHCPv4 server stopped")


class _NoLeases:
    """
    No registry in this daemon: every C{wan:} entry is its fallback.
    """

    def lease(self, ifname: str, family: int) -> None:
        return None


# [server] link_replies -> what opens an interface's link sender.
LINK_SENDERS: dict[str, Callable[[str], ILinkSender] | None] = {
    "packet-socket": open_packet_sender,
    "udp-socket": None,
}


def _add_neighbour(ifname: str, address: IPv4Address, mac: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        sockets.add_arp_entry(s.fileno(), ifname, address, mac)


def make_server_service(
    config: ServerConfig, state_dir: str, reactor: Any = None, netlink: NetlinkService | None = None,
    registry: Any = None,
) -> ServerService:
    """
    @param netlink: the netlink service; when given, interfaces are served
        only while ready (see L{ServerService}).
    @param registry: the WAN lease registry, for C{wan:} subnet options.
    """
    if netlink is None:
        return ServerService(config, state_dir, reactor=reactor, link_senders=LINK_SENDERS, registry=registry,
                             adopt=sockets.adopt_stamped_port, collector=collect_less)
    reader = netlink.reader
    return ServerService(
        config,
        state_dir,
        reactor=reactor,
        link_senders=LINK_SENDERS,
        registry=registry,
        adopt=sockets.adopt_stamped_port,
        collector=collect_less,
        readiness=reader.readiness,
        addresses_of=lambda ifname: [a.interface for a in reader.table.addresses_of(ifname)],
    )
