# -*- test-case-name: tests.unit.test_server_decide -*-
"""
The DHCPv4 server's decisions (RFC 2131 section 4.3), with no I/O.

L{ServerCore.handle} takes a decoded request, where it came from and the
time, consults and updates the lease store's in-memory index, and returns an
L{Outcome}: the reply (if any), where it goes, and whether it may only be
sent once the store has committed (every ACK and every binding change).
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address, IPv4Network
from typing import Callable, Iterable

import attrs

from dhcpsuite.dhcp4.constants import (
    BOOTREPLY,
    BOOTREQUEST,
    FLAG_BROADCAST,
    MessageType,
    Option,
    RelayAgentSubOption,
)
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.options import decode_relay_agent_info
from dhcpsuite.dhcp4.packet import Message
from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.server.config import Reservation, ServerConfig, SubnetConfig
from dhcpsuite.server.destination import Destination, reply_destination
from dhcpsuite.server.holdings import MacHoldings, Quarantine
from dhcpsuite.server.pool import PoolAllocator
from dhcpsuite.server.ratelimit import RateLimiter

_ZERO = IPv4Address(0)
_OPT_MESSAGE_TYPE = int(Option.MESSAGE_TYPE)
_OPT_SERVER_ID = int(Option.SERVER_ID)
_OPT_REQUESTED = int(Option.REQUESTED_ADDRESS)
_OPT_CLIENT_ID = int(Option.CLIENT_ID)
_OPT_PRL = int(Option.PARAMETER_REQUEST_LIST)
_OPT_LEASE_TIME = int(Option.LEASE_TIME)
_OPT_RELAY = int(Option.RELAY_AGENT_INFO)
_OPT_SUBNET_SELECTION = int(Option.SUBNET_SELECTION)
_OPT_HOST_NAME = int(Option.HOST_NAME)
_OPT_RAPID_COMMIT = int(Option.RAPID_COMMIT)
_OPT_SUBNET_MASK = int(Option.SUBNET_MASK)
_INFINITE = 0xFFFFFFFF


@attrs.frozen
class Reply:
    message: Message
    destination: Destination
    # Send only after ILeaseStore.committed() fires.
    after_commit: bool


@attrs.frozen
class Outcome:
    """
    @ivar event: what happened, for logs and counters: C{"offer"},
        C{"ack"}, C{"nak"}, C{"release"}, C{"decline"}, C{"inform"},
        C{"ignore"} (correct not to answer) or C{"drop"} (unusable request).
    @ivar reason: why, for NAKs, drops and ignores.
    """

    event: str
    reason: str = ""
    reply: Reply | None = None
    address: IPv4Address | None = None
    subnet: SubnetConfig | None = None


def client_key(message: Message) -> bytes:
    """
    The client's identity (RFC 2131 section 4.2): option 61 when present,
    else the hardware type and address.
    """
    client_id = message.options.get(_OPT_CLIENT_ID)
    if client_id:
        return client_id
    return bytes((message.htype,)) + message.hardware_address


class _SubnetState:
    """
    Per-subnet lookups built once from the configuration.
    """

    def __init__(self, config: SubnetConfig, server_id: IPv4Address | None) -> None:
        self.config = config
        self.server_id = server_id
        self.by_mac: dict[bytes, Reservation] = {}
        self.by_client_id: dict[bytes, Reservation] = {}
        for r in config.reservations:
            if r.mac is not None:
                self.by_mac[r.mac] = r
            if r.client_id is not None:
                self.by_client_id[r.client_id] = r
        self.reserved = {r.address: r for r in config.reservations if r.address is not None}
        self.allocator = PoolAllocator(config.pools, excluded=self.reserved)
        self.quarantine = Quarantine(config.effective_max_declined)
        self.options = config.options
        self.option_codes = {code for code, _ in config.options}
        self._holding_count: tuple[float, int] = (-1.0, 0)
        # When the pools are full, no address can come free before this time
        # except through an event that feeds the allocator directly (RELEASE,
        # reclaim, a refused offer); until then a DISCOVER must not rescan.
        self.next_rescan = 0.0

    def reservation_for(self, message: Message) -> Reservation | None:
        client_id = message.options.get(_OPT_CLIENT_ID)
        if client_id is not None:
            found = self.by_client_id.get(client_id)
            if found is not None:
                return found
        return self.by_mac.get(message.hardware_address)

    def in_pool(self, address: IPv4Address) -> bool:
        return address in self.allocator

    def bindable(self, address: IPv4Address, mine: Reservation | None) -> bool:
        """
        May C{address} be bound here at all: in a pool, or the client's own
        reservation (checked for every binding, not only for new ones, so a
        pool shrunk in the configuration is honoured at the next renewal).
        """
        return self.in_pool(address) or (mine is not None and mine.address == address)


class ServerCore:
    """
    @param server_ids: the server identifier (our address) for each subnet
        that has no C{server_address} configured, by interface name.
    @param clock: wall-clock seconds; leases are stored in wall-clock time.
    @param pending_server_ids: allow subnets whose interface address is not
        known yet (L{set_server_id} tells it later); until then their
        requests are dropped as C{interface-not-ready}.
    @param holding: C{holding(subnet, now)}: how many addresses of the
        subnet are held (for C{max_leases}), from counts the shell keeps;
        without it, a scan of the store at most once a second.
    """

    def __init__(
        self,
        config: ServerConfig,
        store: ILeaseStore,
        server_ids: dict[str, IPv4Address] | None = None,
        clock: Callable[[], float] = time.time,
        pending_server_ids: bool = False,
        holding: Callable[[SubnetConfig, float], int] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._holding_source = holding
        server_ids = server_ids or {}
        self.subnets: list[_SubnetState] = []
        for subnet in config.subnets:
            server_id = subnet.server_address or server_ids.get(subnet.interface or "")
            if server_id is None and not pending_server_ids:
                raise ValueError(f"subnet {subnet.network}: no server address (interface {subnet.interface} has none)")
            self.subnets.append(_SubnetState(subnet, server_id))
        self._by_interface: dict[str, _SubnetState] = {}
        for state in self.subnets:
            if state.config.interface:
                self._by_interface.setdefault(state.config.interface, state)
        self._our_ids = {state.server_id for state in self.subnets if state.server_id is not None}
        self._reserved_macs = {r.mac for s in config.subnets for r in s.reservations if r.mac is not None}
        self._reserved_ids = {r.client_id for s in config.subnets for r in s.reservations if r.client_id is not None}
        # Segments we serve ourselves: any host there can forge a giaddr in them.
        self._direct_networks = [s.network for s in config.subnets if s.interface]
        limits = config.client_rate_limit, config.relay_rate_limit
        self._client_limiter = (
            RateLimiter(limits[0].rate, limits[0].burst, config.rate_limit_entries) if limits[0].enabled else None
        )
        self._relay_limiter = (
            RateLimiter(limits[1].rate, limits[1].burst, config.rate_limit_entries) if limits[1].enabled else None
        )
        self._macs = MacHoldings()
        for lease in store.leases():
            self._track(None, lease)
        self.reclaim(clock())

    def set_server_id(self, interface: str, address: IPv4Address | None) -> None:
        """
        Our address on C{interface} became known (or went away): the server
        identifier of its subnets that have none configured.
        """
        for state in self.subnets:
            if state.config.interface == interface and state.config.server_address is None:
                state.server_id = address
        self._our_ids = {state.server_id for state in self.subnets if state.server_id is not None}

    def server_id_of(self, subnet: SubnetConfig) -> IPv4Address | None:
        """
        The server identifier in use for C{subnet} (L{None} while unknown).
        """
        return next((state.server_id for state in self.subnets if state.config is subnet), None)

    # Subnet selection ----------------------------------------------------

    def _subnet_containing(self, address: IPv4Address) -> _SubnetState | None:
        for state in self.subnets:
            if address in state.config.network:
                return state
        return None

    def select_subnet(self, message: Message, interface: str | None) -> _SubnetState | None:
        """
        Relayed: giaddr's subnet; direct: the subnet of ciaddr on this
        interface, else the interface's subnet. A subnet selection (option
        82 sub-option 5 from a relay, else option 118) overrides that only
        from a trusted relay (L{_trusted_relay}).

        @raise _Refused: an untrusted request asked for another subnet.
        @raise DecodeError: option 82 or 118 is malformed.
        """
        if message.giaddr != _ZERO:
            default = self._subnet_containing(message.giaddr)
        else:
            default = None
            if message.ciaddr != _ZERO:
                default = self._subnet_containing(message.ciaddr)
                if default is not None and default.config.interface != interface:
                    default = None
            if default is None:
                default = self._by_interface.get(interface or "")
        selection = _selected_link(message)
        if selection is None or (default is not None and selection in default.config.network):
            return default
        if not self._trusted_relay(message.giaddr):
            raise _Refused("untrusted-subnet-selection")
        return self._subnet_containing(selection)

    def _trusted_relay(self, giaddr: IPv4Address) -> bool:
        """
        Whose subnet selection is honoured: a relay (never a direct client)
        in C{trusted_relays}, and never one whose giaddr is on a segment we
        serve directly (Kea and dhcpd trust relays by configuration too).
        """
        if giaddr == _ZERO or not any(giaddr in network for network in self.config.trusted_relays):
            return False
        return not any(giaddr in network for network in self._direct_networks)

    # Entry point -----------------------------------------------------------

    def handle(self, message: Message, interface: str | None = None, now: float | None = None) -> Outcome:
        if now is None:
            now = self.clock()
        if message.op != BOOTREQUEST:
            return Outcome("drop", "not-a-request")
        kind = message.message_type
        if kind is None:
            return Outcome("drop", "no-message-type")
        if not _identifiable(message):
            return Outcome("drop", "no-client-identity")
        limited = self._rate_limited(message, now)
        if limited:
            return Outcome("drop", limited)
        try:
            state = self.select_subnet(message, interface)
        except DecodeError:
            return Outcome("drop", "bad-relay-agent-info")
        except _Refused as e:
            return Outcome("drop", e.reason)
        if state is None:
            return Outcome("drop", "no-subnet")
        if state.server_id is None:
            return Outcome("drop", "interface-not-ready", subnet=state.config)
        handler = self._handlers.get(kind)
        if handler is None:
            return Outcome("drop", f"unexpected-{_type_name(kind)}", subnet=state.config)
        try:
            return handler(self, message, state, now)
        except DecodeError as e:
            return Outcome("drop", e.reason, subnet=state.config)
        except _Refused as e:
            return Outcome("drop", e.reason, subnet=state.config)

    def _rate_limited(self, message: Message, now: float) -> str:
        """
        The drop reason when this request is over a rate limit, else C{""}.
        Clients with a reservation are never limited: they are served first.
        """
        if self._client_limiter is None and self._relay_limiter is None:
            return ""
        if self._has_reservation(message):
            return ""
        mac = message.hardware_address
        if self._relay_limiter is not None and message.giaddr != _ZERO and not self._relay_limiter.allow(message.giaddr, now):
            return "rate-limited-relay"
        if self._client_limiter is not None and not self._client_limiter.allow(mac, now):
            return "rate-limited-client"
        return ""

    def _has_reservation(self, message: Message) -> bool:
        return message.hardware_address in self._reserved_macs or message.options.get(_OPT_CLIENT_ID) in self._reserved_ids

    # Changing the store ----------------------------------------------------

    def _put(self, lease: Lease, durable: bool = True) -> None:
        old = self.store.get(lease.address)
        self.store.put(lease, durable=durable)
        self._track(old, lease)

    def _remove(self, address: IPv4Address) -> None:
        old = self.store.get(address)
        self.store.remove(address)
        self._track(old, None)

    def _track(self, old: Lease | None, new: Lease | None) -> None:
        self._macs.changed(old, new)
        if LeaseState.DECLINED in (old and old.state, new and new.state):
            state = self._subnet_containing((new or old).address)
            if state is not None:
                state.quarantine.changed(old, new)

    def _free(self, address: IPv4Address) -> None:
        """
        Queue C{address} for reuse in the subnet it belongs to (never in the
        one a request happened to arrive in), if it is in a pool there.
        """
        state = self._subnet_containing(address)
        if state is not None:
            state.allocator.freed(address)

    def _new_holding_refused(self, message: Message, state: _SubnetState, key: bytes, now: float, mine: Reservation | None) -> str:
        """
        Why this client may not be given an address it does not hold yet
        (C{""} when it may): the per-MAC limit, C{max_leases}.
        """
        limit = self.config.max_bindings_per_mac
        if limit and mine is None and not self._has_reservation(message):
            held = self._macs.held(message.hardware_address, state.config.network, self.store, now, key)
            if held >= limit:
                return "mac-binding-limit"
        if state.config.max_leases and self._holding(state, now) >= state.config.max_leases:
            return "pool-exhausted"
        return ""

    # DISCOVER --------------------------------------------------------------

    def _discover(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        key = client_key(message)
        reservation = state.reservation_for(message)
        address = self._choose_address(message, state, key, now, reservation)
        rapid = state.config.rapid_commit and _OPT_RAPID_COMMIT in message.options
        if rapid:
            return self._bind(message, state, key, address, now, reservation, rapid_commit=True)
        current = self.store.get(address)
        if not (current is not None and current.state is LeaseState.BOUND and current.belongs_to(key) and current.holds(now)):
            # Hold the address for this client so concurrent DISCOVERs get
            # others; an existing binding is never downgraded to an offer.
            self._put(
                Lease(
                    address,
                    LeaseState.OFFERED,
                    key,
                    message.hardware_address,
                    now + state.config.offer_hold_time,
                    _hostname(message, reservation),
                    now,
                ),
                durable=False,
            )
        reply = self._reply(message, state, MessageType.OFFER, address, self._lease_time(message, state), reservation)
        return Outcome("offer", reply=Reply(reply, reply_destination(message, MessageType.OFFER, address), False), address=address, subnet=state.config)

    def _available_to(self, address: IPv4Address, key: bytes, state: _SubnetState, now: float, mine: Reservation | None) -> bool:
        """
        May this client be given C{address}? Not if it is reserved for
        someone else (C{mine} is the client's own reservation) or another
        client holds it.
        """
        reserved = state.reserved.get(address)
        if reserved is not None and reserved is not mine:
            return False
        lease = self.store.get(address)
        return lease is None or lease.belongs_to(key) or not lease.holds(now)

    def _choose_address(
        self, message: Message, state: _SubnetState, key: bytes, now: float, reservation: Reservation | None
    ) -> IPv4Address:
        """
        @raise _Refused: no address for this client (C{pool-exhausted}, or
            a limit: L{_new_holding_refused}).
        """
        mine = reservation
        if reservation is not None and reservation.address is not None:
            lease = self.store.get(reservation.address)
            if lease is None or lease.belongs_to(key) or not lease.holds(now):
                return reservation.address
        network = state.config.network
        # This client's own leases in this subnet, best first: a live
        # binding, a live offer, then the most recent it gave up.
        own_leases = [l for l in self.store.find_by_client(key) if l.address in network]
        if own_leases:
            rank = {LeaseState.BOUND: 0, LeaseState.OFFERED: 1}
            own_leases.sort(key=lambda l: (rank.get(l.state, 2) if l.holds(now) else 2, -l.updated))
            for lease in own_leases:
                if state.in_pool(lease.address) and self._available_to(lease.address, key, state, now, mine):
                    return lease.address
        refused = self._new_holding_refused(message, state, key, now, mine)
        if refused:
            raise _Refused(refused)
        requested = _address_option(message, _OPT_REQUESTED)
        if requested is not None and state.in_pool(requested) and self._available_to(requested, key, state, now, mine):
            return requested
        store = self.store
        address = state.allocator.allocate(
            lambda a: self._available_to(a, key, state, now, mine), lambda a: store.get(a) is None
        )
        if address is None and now >= state.next_rescan:
            reusable, state.next_rescan = self._reusable(state, now)
            state.allocator.rescan(reusable)
            address = state.allocator.allocate(lambda a: self._available_to(a, key, state, now, mine), lambda a: False)
        if address is None:
            raise _Refused("pool-exhausted")
        return address

    def _reusable(self, state: _SubnetState, now: float) -> tuple[list[IPv4Address], float]:
        """
        The subnet's addresses nobody holds, freed longest ago first, and
        the earliest time a held one lapses (when a rescan is next worth it).
        """
        network = state.config.network
        free = []
        earliest = float("inf")
        for lease in self.store.leases():
            if lease.address not in network or lease.address in state.reserved:
                continue
            if lease.holds(now):
                earliest = min(earliest, lease.expires)
            else:
                free.append(lease)
        free.sort(key=lambda l: l.expires)
        return [l.address for l in free], (now if free else earliest)

    def _holding(self, state: _SubnetState, now: float) -> int:
        if self._holding_source is not None:
            return self._holding_source(state.config, now)
        # Without counts kept by the shell, an O(n) count, cached for a
        # second: max_leases is a coarse guard against starvation.
        stamp, count = state._holding_count
        if now - stamp >= 1.0:
            network = state.config.network
            count = sum(1 for l in self.store.leases() if l.address in network and l.holds(now))
            state._holding_count = (now, count)
        return count

    # REQUEST ---------------------------------------------------------------

    def _request(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        key = client_key(message)
        server_id = _address_option(message, _OPT_SERVER_ID)
        requested = _address_option(message, _OPT_REQUESTED)
        if server_id is not None:
            return self._request_selecting(message, state, key, server_id, requested, now)
        if requested is not None and message.ciaddr == _ZERO:
            # INIT-REBOOT: on the wire (or behind the relay) we selected by,
            # so an address outside that subnet is on the wrong network.
            if requested not in state.config.network:
                return self._unconfirmed(message, state, "wrong-network", requested)
            return self._confirm(message, state, key, requested, now)
        if message.ciaddr != _ZERO:
            return self._request_renewing(message, state, key, message.ciaddr, now)
        return Outcome("drop", "request-without-address", subnet=state.config)

    def _request_selecting(
        self, message: Message, state: _SubnetState, key: bytes, server_id: IPv4Address, requested: IPv4Address | None, now: float
    ) -> Outcome:
        if server_id != state.server_id:
            if server_id not in self._our_ids:
                # The client chose another server: release what we held for it.
                for lease in self.store.find_by_client(key):
                    if lease.state is LeaseState.OFFERED:
                        self._remove(lease.address)
                        self._free(lease.address)
                return Outcome("ignore", "chose-another-server", subnet=state.config)
        # The client chose us: refusing is ours to do, authoritative or not.
        if requested is None:
            return self._nak(message, state, "selecting-without-requested-address")
        address = requested
        if address not in state.config.network:
            return self._nak(message, state, "requested-address-not-in-subnet")
        lease = self.store.get(address)
        mine = state.reservation_for(message)
        if not (state.bindable(address, mine) and self._available_to(address, key, state, now, mine)):
            return self._nak(message, state, "address-not-offered-to-client")
        if not (lease is not None and lease.belongs_to(key) and lease.holds(now)):
            # Not (or no longer) held for this client but free: a new holding.
            refused = self._new_holding_refused(message, state, key, now, mine)
            if refused:
                return Outcome("drop", refused, address=address, subnet=state.config)
        return self._bind(message, state, key, address, now, mine)

    def _request_renewing(self, message: Message, state: _SubnetState, key: bytes, address: IPv4Address, now: float) -> Outcome:
        """
        RENEWING or REBINDING (ciaddr set): the two look the same here.
        """
        if address in state.config.network:
            return self._confirm(message, state, key, address, now)
        if self._subnet_containing(address) is None:
            # Not ours: maybe another server's client on this segment at T2,
            # exactly when that server is down. RFC 2131 4.3.2: extend only
            # "with local administrative authority". Never NAKed.
            return Outcome("ignore", "not-our-address", address=address, subnet=state.config)
        # One of our other subnets: the client is on the wrong network.
        return self._unconfirmed(message, state, "wrong-network", address)

    def _confirm(self, message: Message, state: _SubnetState, key: bytes, address: IPv4Address, now: float) -> Outcome:
        """
        INIT-REBOOT, RENEWING, REBINDING for C{address} in C{state}'s
        subnet: extend the client's binding, or re-create it when we have
        none (a lost or replaced lease database, a server taking over) and
        the address is free for this client, as Kea and dhcpd do.
        """
        lease = self.store.get(address)
        mine = state.reservation_for(message)
        if lease is not None and lease.holds(now) and not lease.belongs_to(key):
            reason = "address-declined" if lease.state is LeaseState.DECLINED else "address-bound-to-another-client"
            return self._unconfirmed(message, state, reason, address)
        if not state.bindable(address, mine):
            return self._unconfirmed(message, state, "address-not-in-pool", address)
        if not self._available_to(address, key, state, now, mine):
            return self._unconfirmed(message, state, "address-reserved-for-another-client", address)
        if lease is not None and lease.belongs_to(key) and lease.holds(now):
            return self._bind(message, state, key, address, now, mine)
        network = state.config.network
        for other in self.store.find_by_client(key):
            if other.address != address and other.address in network and other.state is LeaseState.BOUND and other.holds(now):
                return self._unconfirmed(message, state, "client-has-another-binding", address)
        refused = self._new_holding_refused(message, state, key, now, mine)
        if refused:
            return Outcome("drop", refused, address=address, subnet=state.config)
        return self._bind(message, state, key, address, now, mine)

    def _unconfirmed(self, message: Message, state: _SubnetState, reason: str, address: IPv4Address) -> Outcome:
        """
        A REQUEST we cannot confirm: NAK when authoritative, else silence
        (RFC 2131 4.3.2, "peaceful coexistence" with other servers).
        """
        if state.config.authoritative:
            return self._nak(message, state, reason, address)
        return Outcome("ignore", reason, address=address, subnet=state.config)

    # Other messages --------------------------------------------------------

    def _decline(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        key = client_key(message)
        server_id = _address_option(message, _OPT_SERVER_ID)
        if server_id is not None and server_id != state.server_id:
            return Outcome("ignore", "decline-for-another-server", subnet=state.config)
        address = _address_option(message, _OPT_REQUESTED)
        if address is None:
            return Outcome("drop", "decline-without-address", subnet=state.config)
        lease = self.store.get(address)
        # Only an address we ACKed to this client: a DECLINE of a mere offer
        # (or of someone else's address) would let one host quarantine a pool.
        if (
            lease is None
            or address not in state.config.network
            or not lease.belongs_to(key)
            or lease.state is not LeaseState.BOUND
            or not lease.holds(now)
        ):
            return Outcome("ignore", "decline-of-unknown-binding", address=address, subnet=state.config)
        reason = "address-in-use"
        for oldest in state.quarantine.to_release(self.store):
            # The cap keeps DECLINEs from emptying a pool: the longest
            # quarantined address is put back into use first.
            self._put(attrs.evolve(oldest, state=LeaseState.EXPIRED, expires=now, updated=now))
            state.allocator.freed(oldest.address)
            reason = "address-in-use-quarantine-full"
        self._put(
            Lease(address, LeaseState.DECLINED, b"", message.hardware_address, now + state.config.decline_probation_time, "", now)
        )
        return Outcome("decline", reason, address=address, subnet=state.config)

    def _release(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        key = client_key(message)
        address = message.ciaddr
        lease = self.store.get(address)
        if lease is None or not lease.belongs_to(key) or lease.state is not LeaseState.BOUND:
            return Outcome("ignore", "release-of-unknown-binding", address=address, subnet=state.config)
        # Keep the client key: the same client gets this address back first.
        self._put(attrs.evolve(lease, state=LeaseState.RELEASED, expires=now, updated=now))
        # A RELEASE is unicast to us and may arrive on any interface: the
        # address goes back to its own subnet's pool.
        self._free(address)
        return Outcome("release", address=address, subnet=state.config)

    def _inform(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        reply = self._reply(message, state, MessageType.ACK, _ZERO, None, state.reservation_for(message))
        return Outcome(
            "inform",
            reply=Reply(reply, reply_destination(message, MessageType.ACK), False),
            address=message.ciaddr,
            subnet=state.config,
        )

    _handlers = {
        MessageType.DISCOVER: _discover,
        MessageType.REQUEST: _request,
        MessageType.DECLINE: _decline,
        MessageType.RELEASE: _release,
        MessageType.INFORM: _inform,
    }

    # Building replies ------------------------------------------------------

    def _bind(
        self,
        message: Message,
        state: _SubnetState,
        key: bytes,
        address: IPv4Address,
        now: float,
        reservation: Reservation | None,
        rapid_commit: bool = False,
    ) -> Outcome:
        lease_time = self._lease_time(message, state)
        expires = now + lease_time if lease_time != _INFINITE else float("inf")
        self._put(Lease(address, LeaseState.BOUND, key, message.hardware_address, expires, _hostname(message, reservation), now))
        reply = self._reply(message, state, MessageType.ACK, address, lease_time, reservation)
        if rapid_commit:
            reply.options[_OPT_RAPID_COMMIT] = b""
        return Outcome(
            "ack",
            reply=Reply(reply, reply_destination(message, MessageType.ACK, address), True),
            address=address,
            subnet=state.config,
        )

    def _nak(self, message: Message, state: _SubnetState, reason: str, address: IPv4Address | None = None) -> Outcome:
        # RFC 2131 4.3.2: a relayed NAK carries the broadcast bit for the relay.
        flags = message.flags | (FLAG_BROADCAST if message.giaddr != _ZERO else 0)
        reply = _skeleton(message, MessageType.NAK, state.server_id, flags=flags)
        _echo(message, reply, state.config.network)
        return Outcome(
            "nak", reason, Reply(reply, reply_destination(message, MessageType.NAK), False), address=address, subnet=state.config
        )

    def _lease_time(self, message: Message, state: _SubnetState) -> int:
        config = state.config
        requested = message.options.get(_OPT_LEASE_TIME)
        if requested is None or len(requested) != 4:
            return config.lease_time
        wanted = int.from_bytes(requested, "big")
        return max(config.min_lease_time, min(config.max_lease_time, wanted))

    def _reply(
        self,
        message: Message,
        state: _SubnetState,
        kind: int,
        address: IPv4Address,
        lease_time: int | None,
        reservation: Reservation | None,
    ) -> Message:
        config = state.config
        reply = _skeleton(
            message,
            kind,
            state.server_id,
            # An ACK carries the request's ciaddr back (RFC 2131 table 3: an
            # INFORM's, a RENEW's or REBIND's; 0 otherwise), as Kea does.
            ciaddr=message.ciaddr if kind == MessageType.ACK else _ZERO,
            yiaddr=address,
        )
        options = reply.options
        if lease_time is not None:
            options[_OPT_LEASE_TIME] = lease_time.to_bytes(4, "big")
            if lease_time != _INFINITE:
                t1 = config.renewal_time if config.renewal_time is not None else lease_time // 2
                t2 = config.rebinding_time if config.rebinding_time is not None else lease_time * 7 // 8
                if not 0 < t1 < t2 < lease_time:
                    # A short lease a client asked for: the configured T1/T2
                    # do not fit, so use RFC 2131's proportions.
                    t1, t2 = lease_time // 2, lease_time * 7 // 8
                if 0 < t1 < t2 < lease_time:
                    options[int(Option.RENEWAL_TIME)] = t1.to_bytes(4, "big")
                    options[int(Option.REBINDING_TIME)] = t2.to_bytes(4, "big")
        requested = message.options.get(_OPT_PRL)
        if requested is None:
            for code, raw in state.options:
                options[code] = raw
        else:
            wanted = set(requested)
            wanted.add(_OPT_SUBNET_MASK)
            for code, raw in state.options:
                if code in wanted:
                    options[code] = raw
        if reservation is not None and reservation.hostname:
            options[_OPT_HOST_NAME] = reservation.hostname.encode("utf-8")
        _echo(message, reply, config.network)
        return reply

    # Housekeeping ----------------------------------------------------------

    def reclaim(self, now: float | None = None, addresses: Iterable[IPv4Address] | None = None) -> int:
        """
        Turn lapsed bindings into EXPIRED (durably), drop lapsed offers, end
        probations, and queue the freed addresses for reuse.

        @param addresses: look only at the leases of these addresses (the
            service's sweep passes one slice of the store at a time, so a
            large store never holds the reactor for long); default: every
            lease.
        @return: how many leases changed.
        """
        if now is None:
            now = self.clock()
        store = self.store
        leases = store.leases() if addresses is None else filter(None, map(store.get, addresses))
        changed = 0
        for lease in leases:
            if lease.holds(now):
                continue
            if lease.state is LeaseState.BOUND or lease.state is LeaseState.DECLINED:
                self._put(attrs.evolve(lease, state=LeaseState.EXPIRED, updated=now))
            elif lease.state is LeaseState.OFFERED:
                self._put(attrs.evolve(lease, state=LeaseState.EXPIRED, updated=now), durable=False)
            else:
                continue
            changed += 1
            self._free(lease.address)
        return changed


class _Refused(Exception):
    """
    A request this server will not serve, with the drop reason.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _identifiable(message: Message) -> bool:
    """
    Can this client be told apart from others: a client identifier, or a
    hardware address that is not empty and not all zeros? Without either,
    two such clients would share one binding and a reply would go to MAC
    00:00:00:00:00:00 (Kea drops these too).
    """
    return bool(message.options.get(_OPT_CLIENT_ID)) or any(message.hardware_address)


def _address_option(message: Message, code: int) -> IPv4Address | None:
    raw = message.options.get(code)
    if raw is None:
        return None
    if len(raw) != 4:
        raise DecodeError("bad-option", f"option {code}: {len(raw)} bytes, expected 4")
    return IPv4Address(raw)


def _selected_link(message: Message) -> IPv4Address | None:
    """
    The link a request asks to be served on: option 82 sub-option 5
    (RFC 3527, from a relay), else option 118 (RFC 3011).
    """
    if message.giaddr != _ZERO:
        relay = message.options.get(_OPT_RELAY)
        if relay is not None:
            for subcode, value in decode_relay_agent_info(relay):
                if subcode == RelayAgentSubOption.LINK_SELECTION and len(value) == 4:
                    return IPv4Address(value)
    return _address_option(message, _OPT_SUBNET_SELECTION)


def _type_name(kind: int) -> str:
    try:
        return MessageType(kind).name.lower()
    except ValueError:
        return f"type-{kind}"


def _hostname(message: Message, reservation: Reservation | None) -> str:
    if reservation is not None and reservation.hostname:
        return reservation.hostname
    raw = message.options.get(_OPT_HOST_NAME)
    if not raw:
        return ""
    return raw.decode("utf-8", "replace")[:63]


def _skeleton(
    request: Message,
    kind: int,
    server_id: IPv4Address,
    flags: int | None = None,
    ciaddr: IPv4Address = _ZERO,
    yiaddr: IPv4Address = _ZERO,
) -> Message:
    """
    The reply every answer starts from: the request's transaction, hardware
    address and relay, our message type and server identifier.
    """
    reply = Message(
        op=BOOTREPLY,
        xid=request.xid,
        chaddr=request.chaddr,
        htype=request.htype,
        hlen=request.hlen,
        flags=request.flags if flags is None else flags,
        ciaddr=ciaddr,
        yiaddr=yiaddr,
        giaddr=request.giaddr,
    )
    reply.options[_OPT_MESSAGE_TYPE] = bytes((kind,))
    reply.options[_OPT_SERVER_ID] = server_id.packed
    return reply


def _echo(request: Message, reply: Message, network: IPv4Network) -> None:
    # RFC 6842: echo the client identifier. RFC 3011: echo a subnet
    # selection we served. RFC 3046 2.2: echo option 82 "in all replies",
    # relayed or inserted by a layer-2 agent (giaddr 0), last.
    client_id = request.options.get(_OPT_CLIENT_ID)
    if client_id is not None:
        reply.options[_OPT_CLIENT_ID] = client_id
    selection = request.options.get(_OPT_SUBNET_SELECTION)
    if selection is not None and len(selection) == 4 and IPv4Address(selection) in network:
        reply.options[_OPT_SUBNET_SELECTION] = selection
    relay = request.options.get(_OPT_RELAY)
    if relay is not None:
        reply.options[_OPT_RELAY] = relay
