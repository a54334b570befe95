# -*- test-case-name: tests.unit.test_server_holdings -*-
"""
Indexes the server's decisions need and the lease store does not keep: the
addresses each MAC holds (for the per-MAC binding limit) and a subnet's
quarantined addresses in the order they were declined (for the quarantine
cap), so neither costs a scan of the store.

Both are fed every change the core makes (C{changed(old, new)}, the shape of
a store observer) and are a superset of the truth: an entry whose lease was
changed behind the core's back (the control API removes leases) is found
stale against the store when read, and forgotten.
"""

from __future__ import annotations

import collections
from ipaddress import IPv4Address, IPv4Network

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState

# States in which an address is given to a client (a quarantined one is not).
_GIVEN = frozenset((LeaseState.OFFERED, LeaseState.BOUND))
# The hardware type of Ethernet, the first byte of a usual client key.
_ETHERNET = b"\x01"


class MacHoldings:
    """
    Offered and bound addresses by the client's MAC (whatever its client
    identifier: one host cycling client identifiers is one MAC).

    Most clients' key is the hardware type 1 and the MAC (from chaddr, or an
    option 61 of that form), and the store finds their leases by that key
    already: only the others are kept here, so the index costs nothing for
    a usual client.
    """

    def __init__(self) -> None:
        # Nearly every MAC holds one address: kept as is, a set only for the
        # rare MAC with several (a set costs several times a dict entry).
        self._by_mac: dict[bytes, int | set[int]] = {}

    def __len__(self) -> int:
        return len(self._by_mac)

    def changed(self, old: Lease | None, new: Lease | None) -> None:
        if old is not None and old.state in _GIVEN and not (new is not None and new.mac == old.mac and new.state in _GIVEN):
            self._discard(old.mac, int(old.address))
        if new is not None and new.state in _GIVEN and new.client_key != _ETHERNET + new.mac:
            self._add(new.mac, int(new.address))

    def load(self, store: ILeaseStore) -> None:
        """
        Index the leases C{store} holds now (at start), making no lease.
        """
        for address, state, client_key, mac in store.holders():
            if state in _GIVEN and client_key != _ETHERNET + mac:
                self._add(mac, address)

    def held(self, mac: bytes, network: IPv4Network, store: ILeaseStore, now: float, other_than: bytes) -> int:
        """
        How many addresses of C{network} C{mac} holds at C{now} for client
        keys other than C{other_than}.
        """
        usual = store.find_by_client(_ETHERNET + mac)
        found = self._by_mac.get(mac)
        if found is None and not usual:
            return 0  # a new client: on every DISCOVER's path
        leases = {int(lease.address): lease for lease in usual}
        if found is not None:
            for value in [found] if isinstance(found, int) else list(found):
                lease = store.get(IPv4Address(value))
                if lease is None or lease.mac != mac or lease.state not in _GIVEN:
                    self._discard(mac, value)
                else:
                    leases[value] = lease
        return sum(
            1 for lease in leases.values()
            if lease.mac == mac and lease.state in _GIVEN and lease.address in network and lease.holds(now)
            and lease.client_key != other_than
        )

    def _add(self, mac: bytes, address: int) -> None:
        found = self._by_mac.get(mac)
        if found is None or found == address:
            self._by_mac[mac] = address
        elif isinstance(found, int):
            self._by_mac[mac] = {found, address}
        else:
            found.add(address)

    def _discard(self, mac: bytes, address: int) -> None:
        found = self._by_mac.get(mac)
        if found is None:
            return
        if isinstance(found, int):
            if found == address:
                del self._by_mac[mac]
            return
        found.discard(address)
        if len(found) == 1:
            self._by_mac[mac] = next(iter(found))


class Quarantine:
    """
    One subnet's declined addresses, oldest first, at most C{limit}.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._addresses: collections.OrderedDict[IPv4Address, None] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._addresses)

    def changed(self, old: Lease | None, new: Lease | None) -> None:
        if new is not None and new.state is LeaseState.DECLINED:
            self._addresses[new.address] = None
            self._addresses.move_to_end(new.address)
        elif old is not None and old.state is LeaseState.DECLINED:
            self._addresses.pop(old.address, None)

    def to_release(self, store: ILeaseStore) -> list[Lease]:
        """
        The oldest quarantined leases to end now so that one more fits
        under the limit (stale entries are forgotten on the way).
        """
        if len(self._addresses) < self.limit:
            return []
        for address in [a for a in self._addresses if not _declined(store.get(a))]:
            del self._addresses[address]
        excess = len(self._addresses) - self.limit + 1
        if excess <= 0:
            return []
        oldest = []
        for address in self._addresses:
            if len(oldest) == excess:
                break
            oldest.append(store.get(address))
        return oldest


def _declined(lease: Lease | None) -> bool:
    return lease is not None and lease.state is LeaseState.DECLINED
