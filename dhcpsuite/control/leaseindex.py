# -*- test-case-name: tests.unit.test_control_page -*-
"""
The status page's lease search: sorted keys kept beside the lease store by
its observer, so a search or a page of leases costs a binary search and the
rows shown, not a scan of every lease.

Three sorted lists of keys, each ending in the address as 8 hex digits so
that every key is unique and the address is read back from it:

  - addresses (as integers), for paging in address order and CIDR ranges;
  - MACs, as 12 lowercase hex digits, for a MAC or a MAC prefix;
  - hostnames, lowercased, whole and cut into words (C{Johns-iPhone} is
    found by C{johns}, C{iphone} and C{johns-i}).

A renewal (same MAC, same hostname) changes nothing here; a new address
or a changed name costs one insertion per key.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right, insort
from ipaddress import IPv4Address, IPv4Network
from typing import Iterable

import attrs

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease

# Words of one hostname indexed at most (a 255-byte name of one-letter words
# would otherwise cost a hundred insertions).
MAX_WORDS = 8
_WORD = re.compile(r"[^0-9a-z]+")
_HEX = frozenset("0123456789abcdef")
_MAC_SEPARATORS = str.maketrans("", "", ":-.")
_OCTETS = re.compile(r"^\d{1,3}(\.\d{1,3}){0,3}\.?$")
# Changed addresses waiting before the keys catch up at once.
FLUSH_AT = 4096
# Up to this many key changes go in one by one; more rebuild the list.
_FEW = 32
# After a key, before the address: sorts below every character of a name.
_SEP = "\x00"


@attrs.frozen
class SearchResult:
    total: int
    leases: list[Lease]


def _suffix(address: int) -> str:
    return f"{_SEP}{address:08x}"


def _mac_key(lease: Lease) -> str | None:
    return lease.mac.hex() if lease.mac else None


def _name_keys(hostname: str) -> set[str]:
    name = hostname.lower()
    if not name:
        return set()
    keys = {name}
    keys.update(word for word in _WORD.split(name)[:MAX_WORDS] if word)
    return keys


def _merge(keys: list, gone: set, new: list) -> list:
    """
    C{keys} (sorted) without C{gone} and with C{new}, sorted: in place for
    a few, else rebuilt (Timsort merges the sorted run with the new tail).
    """
    if len(gone) + len(new) <= _FEW:
        for key in gone:
            index = bisect_left(keys, key)
            if index < len(keys) and keys[index] == key:
                del keys[index]
        for key in new:
            insort(keys, key)
        return keys
    kept = [key for key in keys if key not in gone] if gone else keys
    kept.extend(new)
    kept.sort()
    return kept


def _prefixed(keys: list[str], prefix: str) -> Iterable[int]:
    start = bisect_left(keys, prefix)
    # Every key with this prefix sorts before the prefix followed by the
    # highest character.
    end = bisect_right(keys, prefix + "\U0010ffff", start)
    return (int(key[-8:], 16) for key in keys[start:end])


class LeaseIndex:
    """
    Keys of every lease in C{store}, kept current by its observer.

    The observer only notes which addresses changed (a renewal, same MAC
    and hostname, not even that), so the server's write path pays about a
    microsecond; the sorted keys catch up in one batch (L{flush}) before a
    search, on the status page's sampling timer, and whenever
    L{FLUSH_AT} addresses are waiting, which bounds the memory held.
    """

    def __init__(self, store: ILeaseStore) -> None:
        self.store = store
        addresses, macs, names = [], [], []
        for lease in store.leases():
            address = int(lease.address)
            addresses.append(address)
            suffix = _suffix(address)
            mac = _mac_key(lease)
            if mac is not None:
                macs.append(mac + suffix)
            names.extend(name + suffix for name in _name_keys(lease.hostname))
        addresses.sort()
        macs.sort()
        names.sort()
        self._addresses: list[int] = addresses
        self._macs: list[str] = macs
        self._names: list[str] = names
        # Address -> the lease the sorted keys still describe (None: none).
        self._pending: dict[int, Lease | None] = {}
        store.add_observer(self.lease_changed)

    def close(self) -> None:
        self.store.remove_observer(self.lease_changed)
        self._pending.clear()

    def __len__(self) -> int:
        self.flush()
        return len(self._addresses)

    def lease_changed(self, old: Lease | None, new: Lease | None) -> None:
        if old is not None and new is not None and old.mac == new.mac and old.hostname == new.hostname:
            return
        address = int(new.address if new is not None else old.address)  # type: ignore[union-attr]
        pending = self._pending
        if address not in pending:
            pending[address] = old
            if len(pending) >= FLUSH_AT:
                self.flush()

    def flush(self) -> None:
        """
        Bring the sorted keys up to the store: one insertion per key for a
        few changes, one merge per list for many.
        """
        pending, self._pending = self._pending, {}
        if not pending:
            return
        get = self.store.get
        gone_addresses: set[int] = set()
        new_addresses: list[int] = []
        gone_macs: set[str] = set()
        new_macs: list[str] = []
        gone_names: set[str] = set()
        new_names: list[str] = []
        for address, was in pending.items():
            now = get(IPv4Address(address))
            if was is None and now is not None:
                new_addresses.append(address)
            elif was is not None and now is None:
                gone_addresses.add(address)
            suffix = _suffix(address)
            was_mac = _mac_key(was) if was is not None else None
            now_mac = _mac_key(now) if now is not None else None
            if was_mac != now_mac:
                if was_mac is not None:
                    gone_macs.add(was_mac + suffix)
                if now_mac is not None:
                    new_macs.append(now_mac + suffix)
            was_names = _name_keys(was.hostname) if was is not None else set()
            now_names = _name_keys(now.hostname) if now is not None else set()
            gone_names.update(name + suffix for name in was_names - now_names)
            new_names.extend(name + suffix for name in now_names - was_names)
        self._addresses = _merge(self._addresses, gone_addresses, new_addresses)
        self._macs = _merge(self._macs, gone_macs, new_macs)
        self._names = _merge(self._names, gone_names, new_names)

    def search(self, query: str, offset: int = 0, limit: int = 50) -> SearchResult:
        """
        Leases matching C{query}, in address order, C{limit} of them from
        C{offset}. The query is one of: empty (every lease); an address; a
        network (C{10.0.3.0/24}) or whole leading octets (C{10.0.3}); a MAC
        or its first digits (at least 4, or with a separator); a hostname
        or the start of one of its words. Where a query could be several
        of these, the leases matching any of them are shown.
        """
        self.flush()
        addresses = self._matching(query.strip().lower())
        total = len(addresses)
        get = self.store.get
        leases = []
        for address in addresses[offset : offset + limit]:
            lease = get(IPv4Address(address))
            if lease is not None:
                leases.append(lease)
        return SearchResult(total, leases)

    def _matching(self, query: str) -> list[int]:
        if not query:
            return self._addresses
        found: set[int] = set()
        network = _network(query)
        if network is not None:
            first, last = int(network.network_address), int(network.broadcast_address)
            found.update(self._addresses[bisect_left(self._addresses, first) : bisect_right(self._addresses, last)])
        digits = query.translate(_MAC_SEPARATORS)
        if digits and set(digits) <= _HEX and (len(digits) >= 4 or digits != query) and len(digits) <= 12:
            found.update(_prefixed(self._macs, digits))
        found.update(_prefixed(self._names, query))
        return sorted(found)


def _network(query: str) -> IPv4Network | None:
    """
    An address, a network, or whole leading octets as the network they start.
    """
    try:
        return IPv4Network(query, strict=False)
    except ValueError:
        pass
    if not _OCTETS.match(query):
        return None
    octets = [int(o) for o in query.rstrip(".").split(".")]
    if any(o > 255 for o in octets):
        return None
    return IPv4Network((bytes(octets + [0] * (4 - len(octets))), 8 * len(octets)))
