# -*- test-case-name: tests.unit.test_lease_stores -*-
"""
The in-memory lease store: the index every store keeps, and on its own the
store for tests and for servers that need no persistence.

Why it is compact: a server holds every lease in memory, and a L{Lease} with
its own address, bytes, floats and string objects costs ~400 bytes. Here each
lease is one C{bytes} record (L{pack}: ~80 bytes for a usual client), found

  - by address through blocks of L{BLOCK} slots, one Python list each, keyed
    by C{address >> BLOCK_BITS}: no key object per lease, ~10 bytes a lease
    where the pools are well used, and never more than a block per lease;
  - by client key through a dict whose value is the record itself (a tuple
    of records for the rare client that holds several).

A L{Lease} is made from its record when asked for (L{unpack}, ~2 us). The
ones most recently written or read are kept as objects (two generations of
at most L{RECENT} each), so the several reads of one exchange (DISCOVER,
OFFER, REQUEST, ACK) and the observers' C{old} cost a dict lookup.
"""

from __future__ import annotations

import struct
from array import array
from ipaddress import IPv4Address
from typing import Callable, Iterable, Iterator

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState

LeaseObserver = Callable[[Lease | None, Lease | None], None]

BLOCK_BITS = 5
BLOCK = 1 << BLOCK_BITS
_LOW = BLOCK - 1
# Leases kept as objects per generation: enough for the exchanges in flight
# at tens of thousands a second, small beside the records.
RECENT = 512

# address, expires, updated, state, len(client_key), len(mac); then the
# client key, the MAC and the hostname (UTF-8: a Lease holds storable text).
_HEAD = struct.Struct("<IddBHH")
_HEAD_SIZE = _HEAD.size
_ADDRESS = struct.Struct("<I")
_KEY_LENGTH = struct.Struct("<H")
_KEY_LENGTH_AT = _HEAD_SIZE - 4
STATES = tuple(LeaseState)
# A record's state by its stored text (rows at load).
STATE_NUMBERS = {state.value: number for number, state in enumerate(STATES)}


def pack(address: int, state: LeaseState, client_key: bytes, mac: bytes, expires: float, hostname: str,
         updated: float) -> bytes:
    """
    One lease as a record (see L{unpack}).
    """
    return b"".join((
        # By identity, in C: an enum member's hash is Python code.
        _HEAD.pack(address, expires, updated, STATES.index(state), len(client_key), len(mac)),
        client_key, mac, hostname.encode(),
    ))


def unpack(record: bytes) -> Lease:
    address, expires, updated, state, key_length, mac_length = _HEAD.unpack_from(record)
    mac_start = _HEAD_SIZE + key_length
    hostname_start = mac_start + mac_length
    return Lease(
        IPv4Address(address), STATES[state], record[_HEAD_SIZE:mac_start], record[mac_start:hostname_start],
        expires, record[hostname_start:].decode(), updated,
    )


def _client_key(record: bytes) -> bytes:
    return record[_HEAD_SIZE:_HEAD_SIZE + _KEY_LENGTH.unpack_from(record, _KEY_LENGTH_AT)[0]]


def _address(record: bytes) -> int:
    return _ADDRESS.unpack_from(record)[0]


@implementer(ILeaseStore)
class MemoryLeaseStore:
    def __init__(self) -> None:
        self._blocks: dict[int, list[bytes | None]] = {}
        self._count = 0
        # Client key -> its record, or a tuple of them (several addresses).
        self._by_client: dict[bytes, bytes | tuple[bytes, ...]] = {}
        # Address -> Lease: the newer generation, then the older one.
        self._recent: dict[int, Lease] = {}
        self._older: dict[int, Lease] = {}
        self._observers: list[LeaseObserver] = []

    def get(self, address: IPv4Address) -> Lease | None:
        value = int(address)
        lease = self._recent.get(value)
        if lease is not None:
            return lease
        block = self._blocks.get(value >> BLOCK_BITS)
        if block is None:
            return None
        record = block[value & _LOW]
        if record is None:
            return None
        lease = self._older.pop(value, None) or unpack(record)
        self._remember(value, lease)
        return lease

    def __contains__(self, address: IPv4Address) -> bool:
        value = int(address)
        block = self._blocks.get(value >> BLOCK_BITS)
        return block is not None and block[value & _LOW] is not None

    def find_by_client(self, client_key: bytes) -> list[Lease]:
        found = self._by_client.get(client_key)
        if found is None:
            return []
        if isinstance(found, bytes):
            return [self._lease_of(found)]
        return [self._lease_of(record) for record in found]

    def put(self, lease: Lease, durable: bool = True) -> None:
        self._index(lease)

    def remove(self, address: IPv4Address) -> None:
        self._unindex(address)

    def add_observer(self, observer: LeaseObserver) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: LeaseObserver) -> None:
        self._observers.remove(observer)

    def leases(self) -> Iterator[Lease]:
        # The records as they are now (a change while iterating is not seen),
        # made into leases one at a time: a copy of every lease as an
        # object would cost what the records save.
        return map(unpack, self._records())

    def states(self) -> Iterator[tuple[int, LeaseState, float]]:
        """
        C{(address as int, state, expires)} of every lease, in address
        order, making no L{Lease}: what a summary kept beside the store
        needs to start.
        """
        unpack_head = _HEAD.unpack_from
        for record in self._records():
            address, expires, _, state, _, _ = unpack_head(record)
            yield address, STATES[state], expires

    def holders(self) -> Iterator[tuple[int, LeaseState, bytes, bytes]]:
        """
        C{(address as int, state, client key, MAC)} of every lease, in
        address order, making no L{Lease}: what an index by client kept
        beside the store needs to start.
        """
        unpack_head = _HEAD.unpack_from
        for record in self._records():
            address, _, _, state, key_length, mac_length = unpack_head(record)
            mac_start = _HEAD_SIZE + key_length
            yield address, STATES[state], record[_HEAD_SIZE:mac_start], record[mac_start:mac_start + mac_length]

    def addresses(self) -> array:
        """
        Every address held, as integers (4 bytes each), in address order.
        """
        found = array("I")
        blocks = self._blocks
        for number in sorted(blocks):
            base = number << BLOCK_BITS
            found.extend(base + low for low, record in enumerate(blocks[number]) if record is not None)
        return found

    def __len__(self) -> int:
        return self._count

    def committed(self) -> Deferred:
        return succeed(None)

    def close(self) -> Deferred:
        return succeed(None)

    # The index ---------------------------------------------------------------

    def _records(self) -> list[bytes]:
        blocks = self._blocks
        return [record for number in sorted(blocks) for record in blocks[number] if record is not None]

    def _lease_of(self, record: bytes) -> Lease:
        value = _address(record)
        lease = self._recent.get(value)
        if lease is None:
            lease = self._older.pop(value, None) or unpack(record)
            self._remember(value, lease)
        return lease

    def _remember(self, value: int, lease: Lease) -> None:
        recent = self._recent
        if len(recent) >= RECENT:
            self._older, self._recent = recent, {}
            recent = self._recent
        recent[value] = lease

    def _index(self, lease: Lease) -> None:
        address = int(lease.address)
        self._store(address, pack(address, lease.state, lease.client_key, lease.mac, lease.expires, lease.hostname,
                                  lease.updated), lease)

    def _index_row(self, address: int, state: LeaseState, client_key: bytes, mac: bytes, expires: float,
                   hostname: str, updated: float) -> None:
        """
        Take a stored row at load, without making a L{Lease} of it.
        """
        self._store(address, pack(address, state, client_key, mac, expires, hostname, updated), None)

    def _store(self, value: int, record: bytes, lease: Lease | None) -> None:
        blocks = self._blocks
        block = blocks.get(value >> BLOCK_BITS)
        if block is None:
            block = blocks[value >> BLOCK_BITS] = [None] * BLOCK
        low = value & _LOW
        old_record = block[low]
        block[low] = record
        key = lease.client_key if lease is not None else _client_key(record)
        by_client = self._by_client
        old = None
        if old_record is None:
            self._count += 1
        else:
            if self._observers:
                old = self._lease_of(old_record)
            if by_client.get(key) is old_record:
                # The same client's only lease, changed (a renewal, an
                # offer taken): one entry to point at the new record.
                by_client[key] = record
                key = b""
            else:
                self._forget_client(_client_key(old_record), old_record)
        if key:
            found = by_client.get(key)
            if found is None:
                by_client[key] = record
            elif isinstance(found, bytes):
                by_client[key] = (found, record)
            else:
                by_client[key] = found + (record,)
        older = self._older
        if older:
            older.pop(value, None)
        if lease is None:
            self._recent.pop(value, None)
        else:
            self._remember(value, lease)
        if self._observers:
            new = lease if lease is not None else unpack(record)
            for observer in self._observers:
                observer(old, new)

    def _unindex(self, address: IPv4Address) -> None:
        value = int(address)
        block = self._blocks.get(value >> BLOCK_BITS)
        if block is None:
            return
        record = block[value & _LOW]
        if record is None:
            return
        old = self._lease_of(record) if self._observers else None
        block[value & _LOW] = None
        self._count -= 1
        if not any(block):
            del self._blocks[value >> BLOCK_BITS]
        self._forget_client(_client_key(record), record)
        self._recent.pop(value, None)
        self._older.pop(value, None)
        for observer in self._observers:
            observer(old, None)

    def _forget_client(self, client_key: bytes, record: bytes) -> None:
        if not client_key:
            return
        by_client = self._by_client
        found = by_client.get(client_key)
        if found is None:
            return
        if isinstance(found, bytes):
            if found is record:
                del by_client[client_key]
            return
        left = tuple(r for r in found if r is not record)
        if len(left) == len(found):
            return
        by_client[client_key] = left[0] if len(left) == 1 else left


def load_rows(store: MemoryLeaseStore, rows: Iterable[tuple]) -> int:
    """
    Take stored rows of C{(address as int, state as its index in L{STATES},
    client_key, mac, expires, hostname, updated)} into C{store} as records, making no L{Lease}
    (at a start with 300,000 leases, every microsecond a row is 0.3 s
    before the first ACK). Return how many.
    """
    count = 0
    head, blocks, by_client = _HEAD.pack, store._blocks, store._by_client
    for address, state, client_key, mac, expires, hostname, updated in rows:
        count += 1
        record = b"".join((
            head(address, expires, updated, state, len(client_key), len(mac)),
            client_key, mac, hostname.encode(),
        ))
        block = blocks.get(address >> BLOCK_BITS)
        if block is None:
            block = blocks[address >> BLOCK_BITS] = [None] * BLOCK
        if block[address & _LOW] is not None or store._observers or (client_key and client_key in by_client):
            # Not the plain case of a new address and client: the general way.
            store._store(address, record, None)
            continue
        block[address & _LOW] = record
        store._count += 1
        if client_key:
            by_client[client_key] = record
    return count
