# -*- test-case-name: tests.unit.test_server_allocation,tests.unit.test_server_decide -*-
"""
The allocation engine: which address a client may be given or keep, and
every change the server makes to the lease store, with the indexes those
decisions need. Kea's C{AllocEngine}, separate from its lease manager and
from the packet processing, is the model: L{ServerCore} decides what a
message means and what to answer; this decides about addresses.

Pure: a store, the configuration and times in; addresses, refusals and
store changes out.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Callable, Iterable

import attrs

from dhcpsuite.interfaces import IAddressShare, ILeaseStore
from dhcpsuite.leases.lease import HOLDING_STATES, Lease, LeaseState
from dhcpsuite.server.config import Reservation, ServerConfig, SubnetConfig
from dhcpsuite.server.holdings import MacHoldings, Quarantine
from dhcpsuite.server.pool import PoolAllocator
from dhcpsuite.server.shares import WholeShare


class Refused(Exception):
    """
    No address for this client, with the reason that is counted.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class ClientContext:
    """
    What allocation needs to know of a client in one subnet (Kea's
    C{ClientContext4}).

    @ivar key: its identity (L{dhcpsuite.server.decide.client_key}).
    @ivar reservation: its reservation in this subnet, if any.
    @ivar requested: the address it asked for (option 50), if any.
    """

    key: bytes
    mac: bytes
    client_id: bytes | None
    reservation: Reservation | None = None
    requested: IPv4Address | None = None


class SubnetPools:
    """
    One subnet's addresses as allocation sees them: its pools, the
    addresses reserved in it, its quarantine.
    """

    def __init__(self, config: SubnetConfig) -> None:
        self.config = config
        self.reserved = {r.address: r for r in config.reservations if r.address is not None}
        self.allocator = PoolAllocator(config.pools, excluded=self.reserved)
        self.quarantine = Quarantine(config.effective_max_declined)
        # When the pools are full, no address can come free before this time
        # except through an event that feeds the allocator directly (RELEASE,
        # reclaim, a refused offer); until then a DISCOVER must not rescan.
        self.next_rescan = 0.0
        self.holding_count: tuple[float, int] = (-1.0, 0)

    def in_pool(self, address: IPv4Address) -> bool:
        return address in self.allocator

    def bindable(self, address: IPv4Address, mine: Reservation | None) -> bool:
        """
        May C{address} be bound here at all: in a pool, or the client's own
        reservation (checked for every binding, not only for new ones, so a
        pool shrunk in the configuration is honoured at the next renewal).
        """
        return self.in_pool(address) or (mine is not None and mine.address == address)


class AllocationEngine:
    """
    @param holding: C{holding(subnet, now)}: how many addresses of the
        subnet are held (for C{max_leases}), from counts the shell keeps;
        without it, a scan of the store at most once a second.
    @param share: which free addresses this server offers new clients
        first (default: all of them).
    @ivar borrowed: new clients given an address of another member's share.
    """

    def __init__(
        self,
        config: ServerConfig,
        store: ILeaseStore,
        holding: Callable[[SubnetConfig, float], int] | None = None,
        share: IAddressShare | None = None,
    ) -> None:
        self.store = store
        self.share: IAddressShare = share if share is not None else WholeShare()
        self._share_generation = self.share.generation
        self.borrowed = 0
        self.subnets = [SubnetPools(subnet) for subnet in config.subnets]
        self._max_per_mac = config.max_bindings_per_mac
        self._holding_source = holding
        self._reserved_macs = {r.mac for s in config.subnets for r in s.reservations if r.mac is not None}
        self._reserved_ids = {r.client_id for s in config.subnets for r in s.reservations if r.client_id is not None}
        # Kept only when the limit is on: an entry per bound MAC.
        self._macs = MacHoldings() if self._max_per_mac else None
        # Declined ones by when they were declined: the quarantine cap ends
        # the oldest first, after a restart too.
        # Read without making a lease of each (a second at 300,000 leases):
        # only the declined ones are needed as leases.
        if self._macs is not None:
            self._macs.load(store)
        declined = [
            store.get(IPv4Address(address)) for address, state, _ in store.states() if state is LeaseState.DECLINED
        ]
        for lease in sorted(declined, key=lambda l: l.updated):
            self._track_declined(None, lease)

    def containing(self, address: IPv4Address) -> SubnetPools | None:
        for pools in self.subnets:
            if address in pools.config.network:
                return pools
        return None

    def has_reservation(self, mac: bytes, client_id: bytes | None) -> bool:
        """
        Has this client a reservation in any subnet (then it is exempt from
        rate and binding limits)?
        """
        return mac in self._reserved_macs or client_id in self._reserved_ids

    # Changing the store ----------------------------------------------------

    def put(self, lease: Lease, durable: bool = True) -> None:
        old = self.store.get(lease.address)
        self.store.put(lease, durable=durable)
        self._track(old, lease)

    def remove(self, address: IPv4Address) -> None:
        old = self.store.get(address)
        self.store.remove(address)
        self._track(old, None)

    def free(self, address: IPv4Address) -> None:
        """
        Queue C{address} for reuse in the subnet it belongs to (never in the
        one a request happened to arrive in), if it is in a pool there.
        """
        pools = self.containing(address)
        if pools is not None:
            pools.allocator.freed(address)

    def _track(self, old: Lease | None, new: Lease | None) -> None:
        if self._macs is not None:
            self._macs.changed(old, new)
        self._track_declined(old, new)

    def _track_declined(self, old: Lease | None, new: Lease | None) -> None:
        if (old is not None and old.state is LeaseState.DECLINED) or (new is not None and new.state is LeaseState.DECLINED):
            pools = self.containing((new or old).address)
            if pools is not None:
                pools.quarantine.changed(old, new)

    # Decisions -------------------------------------------------------------

    def available_to(self, address: IPv4Address, client: ClientContext, pools: SubnetPools, now: float) -> bool:
        """
        May this client be given C{address}? Not if it is reserved for
        someone else or another client holds it.
        """
        reserved = pools.reserved.get(address)
        if reserved is not None and reserved is not client.reservation:
            return False
        lease = self.store.get(address)
        return lease is None or lease.belongs_to(client.key) or not lease.holds(now)

    def new_holding_refused(self, client: ClientContext, pools: SubnetPools, now: float) -> str:
        """
        Why this client may not be given an address it does not hold yet
        (C{""} when it may): the per-MAC limit, C{max_leases}.
        """
        if self._macs is not None and client.reservation is None:
            held = self._macs.held(client.mac, pools.config.network, self.store, now, client.key)
            if held >= self._max_per_mac and not self.has_reservation(client.mac, client.client_id):
                return "mac-binding-limit"
        if pools.config.max_leases and self._holding(pools, now) >= pools.config.max_leases:
            return "pool-exhausted"
        return ""

    def choose(self, client: ClientContext, pools: SubnetPools, now: float) -> IPv4Address:
        """
        The address to offer: the client's reservation; else its current
        or last address in the subnet; else the one it asked for, if free;
        else a never-used pool address; else the one freed longest ago.

        @raise Refused: none (C{pool-exhausted}), or a limit
            (L{new_holding_refused}).
        """
        key = client.key
        reservation = client.reservation
        if reservation is not None and reservation.address is not None:
            lease = self.store.get(reservation.address)
            if lease is None or lease.belongs_to(key) or not lease.holds(now):
                return reservation.address
        network = pools.config.network
        # This client's own leases in this subnet, best first: a live
        # binding, a live offer, then the most recent it gave up.
        own_leases = [l for l in self.store.find_by_client(key) if l.address in network]
        if own_leases:
            rank = {LeaseState.BOUND: 0, LeaseState.OFFERED: 1}
            own_leases.sort(key=lambda l: (rank.get(l.state, 2) if l.holds(now) else 2, -l.updated))
            for lease in own_leases:
                if pools.in_pool(lease.address) and self.available_to(lease.address, client, pools, now):
                    return lease.address
        refused = self.new_holding_refused(client, pools, now)
        if refused:
            raise Refused(refused)
        requested = client.requested
        if requested is not None and pools.in_pool(requested) and self.available_to(requested, client, pools, now):
            return requested
        store = self.store
        share = self.share
        if share.generation != self._share_generation:
            self._share_generation = share.generation
            for each in self.subnets:
                each.allocator.reshare()
        mine = None if share.whole else share.mine
        allocator = pools.allocator
        is_free = lambda a: self.available_to(a, client, pools, now)  # noqa: E731
        address = allocator.allocate(is_free, lambda a: a not in store, mine)
        if address is None and now >= pools.next_rescan:
            reusable, earliest = self._reusable(pools, now)
            allocator.rescan(reusable)
            address = allocator.allocate(is_free, lambda a: False, mine)
            # Nothing of this server's share free: none comes free before
            # the earliest held one lapses (or an event feeds the allocator),
            # so borrowing does not rescan the store for every DISCOVER.
            mine_left = reusable if mine is None else address is not None
            pools.next_rescan = now if mine_left else earliest
        if address is None and mine is not None:
            address = allocator.borrow(is_free)
            self.borrowed += address is not None
        if address is None:
            raise Refused("pool-exhausted")
        return address

    def quarantine(self, pools: SubnetPools, lease: Lease, mac: bytes, now: float) -> bool:
        """
        Quarantine C{lease}'s address after a DECLINE, for the subnet's
        probation time; at the cap the longest quarantined addresses are put
        back into use first, so DECLINEs cannot empty a pool.

        @return: whether that cap released any.
        """
        released = False
        for oldest in pools.quarantine.to_release(self.store):
            self.put(attrs.evolve(oldest, state=LeaseState.EXPIRED, expires=now, updated=now))
            pools.allocator.freed(oldest.address)
            released = True
        self.put(Lease(lease.address, LeaseState.DECLINED, b"", mac, now + pools.config.decline_probation_time, "", now))
        return released

    def _reusable(self, pools: SubnetPools, now: float) -> tuple[list[IPv4Address], float]:
        """
        The subnet's addresses nobody holds, freed longest ago first, and
        the earliest time a held one lapses.
        """
        network = pools.config.network
        free = []
        earliest = float("inf")
        for lease in self.store.leases():
            if lease.address not in network or lease.address in pools.reserved:
                continue
            if lease.holds(now):
                earliest = min(earliest, lease.expires)
            else:
                free.append(lease)
        free.sort(key=lambda l: l.expires)
        return [l.address for l in free], earliest

    def _holding(self, pools: SubnetPools, now: float) -> int:
        if self._holding_source is not None:
            return self._holding_source(pools.config, now)
        # Without counts kept by the shell, an O(n) count, cached for a
        # second: max_leases is a coarse guard against starvation.
        stamp, count = pools.holding_count
        if now - stamp >= 1.0:
            network = pools.config.network
            count = sum(1 for l in self.store.leases() if l.address in network and l.holds(now))
            pools.holding_count = (now, count)
        return count

    # Housekeeping ----------------------------------------------------------

    def reclaim(self, now: float, addresses: Iterable[IPv4Address] | None = None) -> int:
        """
        Turn lapsed bindings into EXPIRED (durably), drop lapsed offers, end
        probations, and queue the freed addresses for reuse.

        @param addresses: look only at the leases of these addresses;
            default: every lease.
        @return: how many leases changed.
        """
        store = self.store
        if addresses is None:
            # Only the leases that no longer hold are made into objects
            # (states as a tuple: membership by identity, not enum hashing).
            holding = tuple(HOLDING_STATES)
            addresses = [IPv4Address(a) for a, state, expires in store.states() if not (state in holding and expires > now)]
        leases = filter(None, map(store.get, addresses))
        changed = 0
        for lease in leases:
            if lease.holds(now):
                continue
            if lease.state is LeaseState.BOUND or lease.state is LeaseState.DECLINED:
                self.put(attrs.evolve(lease, state=LeaseState.EXPIRED, updated=now))
            elif lease.state is LeaseState.OFFERED:
                self.put(attrs.evolve(lease, state=LeaseState.EXPIRED, updated=now), durable=False)
            else:
                continue
            changed += 1
            self.free(lease.address)
        return changed
