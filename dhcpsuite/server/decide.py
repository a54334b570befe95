# -*- test-case-name: tests.unit.test_server_decide -*-
"""
The DHCPv4 server's decisions (RFC 2131 section 4.3), with no I/O.

L{ServerCore.handle} takes a decoded request, where it came from and the
time, and returns an L{Outcome}: the reply (if any), where it goes, and
whether it may only be sent once the store has committed (every ACK and
every binding change). It decides what a message means (subnet selection,
relay trust, RFC 2131 4.3's cases, NAK or silence) and builds the reply;
which address a client may have, and every change to the lease store, is
the allocation engine's (L{dhcpsuite.server.allocation}).
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
from dhcpsuite.dhcp4.packet import Message, address_from_bytes
from dhcpsuite.interfaces import IAddressShare, ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.server.config import Reservation, ServerConfig, SubnetConfig
from dhcpsuite.server.destination import Destination, reply_destination
from dhcpsuite.server.outcomes import DropReason, OutcomeEvent
from dhcpsuite.server.allocation import AllocationEngine, ClientContext, Refused, SubnetPools
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
_OPT_RENEWAL_TIME = int(Option.RENEWAL_TIME)
_OPT_REBINDING_TIME = int(Option.REBINDING_TIME)
_INFINITE = 0xFFFFFFFF
# What a client with an address sends us by unicast, ciaddr set (RFC 2131
# table 5): a RENEWING REQUEST (no server identifier, table 4), a RELEASE,
# an INFORM. A DISCOVER, a SELECTING REQUEST or a DECLINE comes through the relay.
_UNICAST_FROM_CLIENT = frozenset((MessageType.RELEASE, MessageType.INFORM))
# Entries of each subnet's caches of reply options (by option 55, by lease
# time): a few distinct values are the rule, so a full cache is emptied
# rather than managed.
REPLY_CACHE_SIZE = 64


@attrs.frozen
class Reply:
    message: Message
    destination: Destination
    # Send only after ILeaseStore.committed() fires.
    after_commit: bool


@attrs.frozen
class Outcome:
    """
    @ivar event: what happened, for logs and counters.
    @ivar reason: why, for NAKs, drops (a L{DropReason} when the core
        decided it) and ignores.
    """

    event: OutcomeEvent
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
    Per-subnet lookups built once from the configuration, and the subnet's
    addresses as the allocation engine keeps them (C{pools}).
    """

    def __init__(self, config: SubnetConfig, server_id: IPv4Address | None, pools: SubnetPools) -> None:
        self.config = config
        self.server_id = server_id
        self.pools = pools
        self.by_mac: dict[bytes, Reservation] = {}
        self.by_client_id: dict[bytes, Reservation] = {}
        for r in config.reservations:
            if r.mac is not None:
                self.by_mac[r.mac] = r
            if r.client_id is not None:
                self.by_client_id[r.client_id] = r
        self.set_options(config.options)
        self._timers: dict[int, tuple[tuple[int, bytes], ...]] = {}

    def set_options(self, options: tuple[tuple[int, bytes], ...]) -> None:
        """
        The subnet's reply options (config and WAN-fed), and an empty cache
        of what each option 55 selects from them.
        """
        self.options = options
        self.option_codes = {code for code, _ in options}
        self._selected: dict[bytes | None, tuple[tuple[int, bytes], ...]] = {}

    def reply_options(self, requested: bytes | None) -> tuple[tuple[int, bytes], ...]:
        """
        The subnet's options a reply carries for a client that asked for
        C{requested} (its option 55; L{None}: all of them), in the
        configuration's order; the subnet mask always. Worked out once per
        distinct option 55 (clients of one kind all send the same).
        """
        cache = self._selected
        found = cache.get(requested)
        if found is None:
            if requested is None:
                found = tuple(self.options)
            else:
                wanted = set(requested)
                wanted.add(_OPT_SUBNET_MASK)
                found = tuple((code, raw) for code, raw in self.options if code in wanted)
            if len(cache) >= REPLY_CACHE_SIZE:
                cache.clear()
            cache[requested] = found
        return found

    def timer_options(self, lease_time: int) -> tuple[tuple[int, bytes], ...]:
        """
        Options 51, 58 and 59 for a lease of C{lease_time} seconds: T1 and
        T2 as configured, or RFC 2131's proportions when they do not fit
        (a short lease a client asked for); none of them for an infinite
        lease.
        """
        cache = self._timers
        found = cache.get(lease_time)
        if found is None:
            found = ((_OPT_LEASE_TIME, lease_time.to_bytes(4, "big")),)
            if lease_time != _INFINITE:
                config = self.config
                t1 = config.renewal_time if config.renewal_time is not None else lease_time // 2
                t2 = config.rebinding_time if config.rebinding_time is not None else lease_time * 7 // 8
                if not 0 < t1 < t2 < lease_time:
                    t1, t2 = lease_time // 2, lease_time * 7 // 8
                if 0 < t1 < t2 < lease_time:
                    found += ((_OPT_RENEWAL_TIME, t1.to_bytes(4, "big")), (_OPT_REBINDING_TIME, t2.to_bytes(4, "big")))
            if len(cache) >= REPLY_CACHE_SIZE:
                cache.clear()
            cache[lease_time] = found
        return found

    def reservation_for(self, message: Message) -> Reservation | None:
        client_id = message.options.get(_OPT_CLIENT_ID)
        if client_id is not None:
            found = self.by_client_id.get(client_id)
            if found is not None:
                return found
        return self.by_mac.get(message.hardware_address)

    def client(self, message: Message, key: bytes, requested: IPv4Address | None = None) -> ClientContext:
        """
        The client as the allocation engine sees it in this subnet.
        """
        return ClientContext(
            key, message.hardware_address, message.options.get(_OPT_CLIENT_ID), self.reservation_for(message), requested
        )


class ServerCore:
    """
    @param server_ids: the server identifier (our address) for each subnet
        that has no C{server_address} configured, by interface name.
    @param clock: wall-clock seconds; leases are stored in wall-clock time.
    @param pending_server_ids: allow subnets whose interface address is not
        known yet (L{set_server_id} tells it later); until then their
        requests are dropped as C{interface-not-ready}.
    @param holding: for C{max_leases}, see L{AllocationEngine}.
    @param share: see L{AllocationEngine}.
    """

    def __init__(
        self,
        config: ServerConfig,
        store: ILeaseStore,
        server_ids: dict[str, IPv4Address] | None = None,
        clock: Callable[[], float] = time.time,
        pending_server_ids: bool = False,
        holding: Callable[[SubnetConfig, float], int] | None = None,
        share: IAddressShare | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.request: tuple[Message, IPv4Address | None] | None = None
        server_ids = server_ids or {}
        self.engine = AllocationEngine(config, store, holding, share)
        self.subnets: list[_SubnetState] = []
        for subnet, pools in zip(config.subnets, self.engine.subnets):
            server_id = subnet.server_address or server_ids.get(subnet.interface or "")
            if server_id is None and not pending_server_ids:
                raise ValueError(f"subnet {subnet.network}: no server address (interface {subnet.interface} has none)")
            self.subnets.append(_SubnetState(subnet, server_id, pools))
        self._by_interface: dict[str, _SubnetState] = {}
        for state in self.subnets:
            if state.config.interface:
                self._by_interface.setdefault(state.config.interface, state)
        self._our_ids = {state.server_id for state in self.subnets if state.server_id is not None}
        # Segments we serve ourselves: any host there can forge a giaddr in them.
        self._direct_networks = [s.network for s in config.subnets if s.interface]
        limits = config.client_rate_limit, config.relay_rate_limit
        self._client_limiter = (
            RateLimiter(limits[0].rate, limits[0].burst, config.rate_limit_entries) if limits[0].enabled else None
        )
        self._relay_limiter = (
            RateLimiter(limits[1].rate, limits[1].burst, config.rate_limit_entries) if limits[1].enabled else None
        )
        self.reclaim(clock())

    def keep_rate_limits_of(self, previous: "ServerCore") -> None:
        """
        A reload: keep the previous core's rate-limit buckets where the
        limit is configured the same, so a reload is no way around a limit.
        """
        if self.config.client_rate_limit == previous.config.client_rate_limit:
            self._client_limiter = previous._client_limiter
        if self.config.relay_rate_limit == previous.config.relay_rate_limit:
            self._relay_limiter = previous._relay_limiter

    def set_subnet_options(self, subnet: SubnetConfig, options: tuple[tuple[int, bytes], ...]) -> None:
        """
        A new option block for C{subnet} (its WAN-fed options changed):
        every reply from now on carries it.
        """
        for state in self.subnets:
            if state.config is subnet:
                state.set_options(options)

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
        interface, else the interface's subnet. On an interface that serves
        no subnet itself (C{listen}: it faces relays), a unicast RENEW,
        RELEASE or INFORM gets the relayed-only subnet of its ciaddr: the
        client of a relayed subnet talks to us directly once it has an
        address (RFC 2131 4.3.2, 4.4.5), as Kea selects by ciaddr. Never a
        subnet we serve on a link: a host there is on that link, not here.
        A subnet selection (option 82 sub-option 5 from a relay, else
        option 118) overrides that only from a trusted relay
        (L{_trusted_relay}).

        @raise Refused: an untrusted request asked for another subnet.
        @raise DecodeError: option 82 or 118 is malformed.
        """
        if message.giaddr != _ZERO:
            default = self._subnet_containing(message.giaddr)
        else:
            default = self._by_interface.get(interface or "")
            if message.ciaddr != _ZERO:
                owner = self._subnet_containing(message.ciaddr)
                if owner is not None and (
                    owner.config.interface == interface
                    or (
                        default is None
                        and owner.config.interface is None
                        and _unicast_from_client(message)
                    )
                ):
                    default = owner
        selection = _selected_link(message)
        if selection is None or (default is not None and selection in default.config.network):
            return default
        if not self._trusted_relay(message.giaddr):
            raise Refused("untrusted-subnet-selection")
        return self._subnet_containing(selection)

    def _trusted_relay(self, giaddr: IPv4Address) -> bool:
        """
        Whose subnet selection is honoured: a relay (never a direct client)
        in C{trusted_relays}, and never one whose giaddr is on a segment we
        serve directly (any host there can forge it).
        """
        if giaddr == _ZERO or not any(giaddr in network for network in self.config.trusted_relays):
            return False
        return not any(giaddr in network for network in self._direct_networks)

    # Entry point -----------------------------------------------------------

    def handle(self, message: Message, interface: str | None = None, now: float | None = None) -> Outcome:
        if now is None:
            now = self.clock()
        if message.op != BOOTREQUEST:
            return Outcome(OutcomeEvent.DROP, DropReason.NOT_A_REQUEST)
        kind = message.message_type
        if kind is None:
            return Outcome(OutcomeEvent.DROP, DropReason.NO_MESSAGE_TYPE)
        if not _identifiable(message):
            return Outcome(OutcomeEvent.DROP, DropReason.NO_CLIENT_IDENTITY)
        limited = self._rate_limited(message, now)
        if limited:
            return Outcome(OutcomeEvent.DROP, limited)
        try:
            state = self.select_subnet(message, interface)
        except (DecodeError, Refused) as e:
            return Outcome(OutcomeEvent.DROP, e.reason)
        if state is None:
            return Outcome(OutcomeEvent.DROP, DropReason.NO_SUBNET)
        if state.server_id is None:
            return Outcome(OutcomeEvent.DROP, DropReason.INTERFACE_NOT_READY, subnet=state.config)
        handler = self._handlers.get(kind)
        if handler is None:
            return Outcome(OutcomeEvent.DROP, f"unexpected-{_type_name(kind)}", subnet=state.config)
        # What the lease store's observers (the lease history) may learn of
        # the request behind a change, while it is being decided.
        self.request = (message, state.server_id)
        try:
            return handler(self, message, state, now)
        except (DecodeError, Refused) as e:
            return Outcome(OutcomeEvent.DROP, e.reason, subnet=state.config)
        finally:
            self.request = None

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
            return DropReason.RATE_LIMITED_RELAY
        if self._client_limiter is not None and not self._client_limiter.allow(mac, now):
            return DropReason.RATE_LIMITED_CLIENT
        return ""

    def _has_reservation(self, message: Message) -> bool:
        return self.engine.has_reservation(message.hardware_address, message.options.get(_OPT_CLIENT_ID))

    # DISCOVER --------------------------------------------------------------

    def _discover(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        key = client_key(message)
        # Only a hint here: a malformed one is ignored (RFC 1122 1.2.2), not fatal.
        requested = message.options.get(_OPT_REQUESTED)
        client = state.client(message, key, address_from_bytes(requested) if requested and len(requested) == 4 else None)
        reservation = client.reservation
        address = self.engine.choose(client, state.pools, now)
        rapid = state.config.rapid_commit and _OPT_RAPID_COMMIT in message.options
        if rapid:
            return self._bind(message, state, key, address, now, reservation, rapid_commit=True)
        current = self.store.get(address)
        if not (current is not None and current.state is LeaseState.BOUND and current.belongs_to(key) and current.holds(now)):
            # Hold the address for this client so concurrent DISCOVERs get
            # others; an existing binding is never downgraded to an offer.
            self.engine.put(
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
        return Outcome(OutcomeEvent.OFFER, reply=Reply(reply, reply_destination(message, MessageType.OFFER, address), False), address=address, subnet=state.config)

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
        return Outcome(OutcomeEvent.DROP, DropReason.REQUEST_WITHOUT_ADDRESS, subnet=state.config)

    def _request_selecting(
        self, message: Message, state: _SubnetState, key: bytes, server_id: IPv4Address, requested: IPv4Address | None, now: float
    ) -> Outcome:
        if server_id != state.server_id:
            if server_id not in self._our_ids:
                # The client chose another server: release what we held for it.
                for lease in self.store.find_by_client(key):
                    if lease.state is LeaseState.OFFERED:
                        self.engine.remove(lease.address)
                        self.engine.free(lease.address)
                return Outcome(OutcomeEvent.IGNORE, "chose-another-server", subnet=state.config)
        # The client chose us: refusing is ours to do, authoritative or not.
        if requested is None:
            return self._nak(message, state, "selecting-without-requested-address")
        address = requested
        if address not in state.config.network:
            return self._nak(message, state, "requested-address-not-in-subnet")
        lease = self.store.get(address)
        client = state.client(message, key)
        mine = client.reservation
        if not (state.pools.bindable(address, mine) and self.engine.available_to(address, client, state.pools, now)):
            return self._nak(message, state, "address-not-offered-to-client")
        if not (lease is not None and lease.belongs_to(key)):
            # Not this client's (offered, bound or given up) but free: a new holding.
            refused = self.engine.new_holding_refused(client, state.pools, now)
            if refused:
                return Outcome(OutcomeEvent.DROP, refused, address=address, subnet=state.config)
        return self._bind(message, state, key, address, now, mine)

    def _request_renewing(self, message: Message, state: _SubnetState, key: bytes, address: IPv4Address, now: float) -> Outcome:
        """
        RENEWING or REBINDING (ciaddr set): the two look the same here.
        """
        if address in state.config.network:
            # giaddr 0 in a relayed-only subnet: selected by ciaddr on a
            # relay-facing interface, from wherever routing brought it.
            unicast = message.giaddr == _ZERO and state.config.interface is None
            return self._confirm(message, state, key, address, now, recreate=not unicast)
        owner = self._subnet_containing(address)
        if owner is None:
            # Not ours: maybe another server's client on this segment at T2,
            # exactly when that server is down. RFC 2131 4.3.2: extend only
            # "with local administrative authority". Never NAKed.
            return Outcome(OutcomeEvent.IGNORE, "not-our-address", address=address, subnet=state.config)
        if message.giaddr == _ZERO and owner.config.interface is None and owner.server_id is not None:
            # A relayed-only subnet's client RENEWs by unicast to us, not
            # through its relay, and arrives on whatever interface routing
            # picks: its binding is extended there (Kea selects the subnet
            # by ciaddr for these), never re-created across subnets.
            lease = self.store.get(address)
            client = owner.client(message, key)
            if lease is not None and lease.belongs_to(key) and lease.state is LeaseState.BOUND and lease.holds(now):
                if owner.pools.bindable(address, client.reservation) and self.engine.available_to(address, client, owner.pools, now):
                    return self._bind(message, owner, key, address, now, client.reservation)
        # One of our other subnets: the client is on the wrong network.
        return self._unconfirmed(message, state, "wrong-network", address)

    def _confirm(
        self, message: Message, state: _SubnetState, key: bytes, address: IPv4Address, now: float, recreate: bool = True
    ) -> Outcome:
        """
        INIT-REBOOT, RENEWING, REBINDING for C{address} in C{state}'s
        subnet: extend the client's binding, or re-create it when we have
        none (a lost or replaced lease database, a server taking over) and
        the address is free for this client, as Kea and dhcpd do.

        @param recreate: false for a request that no relay vouches for
            (unicast from a relayed subnet, routed from anywhere): without a
            binding it is not answered (Kea and dhcpd create one), so no
            host that can route to us takes a relayed subnet's addresses by
            asking; the client REBINDs through its relay at T2, where its
            binding may be re-created.
        """
        lease = self.store.get(address)
        client = state.client(message, key)
        mine = client.reservation
        if lease is not None and lease.holds(now) and not lease.belongs_to(key):
            reason = "address-declined" if lease.state is LeaseState.DECLINED else "address-bound-to-another-client"
            return self._unconfirmed(message, state, reason, address)
        if not state.pools.bindable(address, mine):
            return self._unconfirmed(message, state, "address-not-in-pool", address)
        if not self.engine.available_to(address, client, state.pools, now):
            return self._unconfirmed(message, state, "address-reserved-for-another-client", address)
        if lease is not None and lease.belongs_to(key):
            # Its binding, or its own address lapsed or released and not
            # taken since (limits do not apply: nothing new is held).
            return self._bind(message, state, key, address, now, mine)
        # We have no record of this client for the address: re-create.
        if not recreate:
            return Outcome(OutcomeEvent.IGNORE, "unicast-renew-without-binding", address=address, subnet=state.config)
        network = state.config.network
        for other in self.store.find_by_client(key):
            if other.address != address and other.address in network and other.state is LeaseState.BOUND and other.holds(now):
                return self._unconfirmed(message, state, "client-has-another-binding", address)
        refused = self.engine.new_holding_refused(client, state.pools, now)
        if refused:
            return Outcome(OutcomeEvent.DROP, refused, address=address, subnet=state.config)
        return self._bind(message, state, key, address, now, mine)

    def _unconfirmed(self, message: Message, state: _SubnetState, reason: str, address: IPv4Address) -> Outcome:
        """
        A REQUEST we cannot confirm: NAK when authoritative, else silence
        (RFC 2131 4.3.2, "peaceful coexistence" with other servers).
        """
        if state.config.authoritative:
            return self._nak(message, state, reason, address)
        return Outcome(OutcomeEvent.IGNORE, reason, address=address, subnet=state.config)

    # Other messages --------------------------------------------------------

    def _decline(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        key = client_key(message)
        server_id = _address_option(message, _OPT_SERVER_ID)
        if server_id is not None and server_id != state.server_id:
            return Outcome(OutcomeEvent.IGNORE, "decline-for-another-server", subnet=state.config)
        address = _address_option(message, _OPT_REQUESTED)
        if address is None:
            return Outcome(OutcomeEvent.DROP, DropReason.DECLINE_WITHOUT_ADDRESS, subnet=state.config)
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
            return Outcome(OutcomeEvent.IGNORE, "decline-of-unknown-binding", address=address, subnet=state.config)
        capped = self.engine.quarantine(state.pools, lease, message.hardware_address, now)
        reason = "address-in-use-quarantine-full" if capped else "address-in-use"
        return Outcome(OutcomeEvent.DECLINE, reason, address=address, subnet=state.config)

    def _release(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        key = client_key(message)
        address = message.ciaddr
        lease = self.store.get(address)
        if lease is None or not lease.belongs_to(key) or lease.state is not LeaseState.BOUND:
            return Outcome(OutcomeEvent.IGNORE, "release-of-unknown-binding", address=address, subnet=state.config)
        # Keep the client key: the same client gets this address back first.
        self.engine.put(attrs.evolve(lease, state=LeaseState.RELEASED, expires=now, updated=now))
        # A RELEASE is unicast to us and may arrive on any interface: the
        # address goes back to its own subnet's pool.
        self.engine.free(address)
        return Outcome(OutcomeEvent.RELEASE, address=address, subnet=state.config)

    def _inform(self, message: Message, state: _SubnetState, now: float) -> Outcome:
        reply = self._reply(message, state, MessageType.ACK, _ZERO, None, state.reservation_for(message))
        return Outcome(
            OutcomeEvent.INFORM,
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
        self.engine.put(Lease(address, LeaseState.BOUND, key, message.hardware_address, expires, _hostname(message, reservation), now))
        reply = self._reply(message, state, MessageType.ACK, address, lease_time, reservation)
        if rapid_commit:
            reply.options[_OPT_RAPID_COMMIT] = b""
        return Outcome(
            OutcomeEvent.ACK,
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
            OutcomeEvent.NAK, reason, Reply(reply, reply_destination(message, MessageType.NAK), False), address=address, subnet=state.config
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
            options.update(state.timer_options(lease_time))
        options.update(state.reply_options(message.options.get(_OPT_PRL)))
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
        return self.engine.reclaim(self.clock() if now is None else now, addresses)


def _unicast_from_client(message: Message) -> bool:
    kind = message.message_type
    return kind in _UNICAST_FROM_CLIENT or (kind == MessageType.REQUEST and _OPT_SERVER_ID not in message.options)


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
    return address_from_bytes(raw)


def _selected_link(message: Message) -> IPv4Address | None:
    """
    The link a request asks to be served on: option 82 sub-option 5
    (RFC 3527, from a relay), else option 118 (RFC 3011).
    """
    if message.giaddr != _ZERO:
        relay = message.options.get(_OPT_RELAY)
        if relay is not None:
            try:
                suboptions = decode_relay_agent_info(relay)
            except DecodeError as e:
                raise DecodeError("bad-relay-agent-info", e.detail) from None
            for subcode, value in suboptions:
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
    # Positional (op, xid, chaddr, htype, hlen, hops, secs, flags, ciaddr,
    # yiaddr, siaddr, giaddr): this runs for every reply.
    reply = Message(
        BOOTREPLY, request.xid, request.chaddr, request.htype, request.hlen, 0, 0,
        request.flags if flags is None else flags, ciaddr, yiaddr, _ZERO, request.giaddr,
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
