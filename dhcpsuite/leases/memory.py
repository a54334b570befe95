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
  - by client key through one C{array("Q")} used as a hash table (open
    addressing, linear probing, at most half full): a slot is 0 or
    C{fingerprint << 32 | address}, the fingerprint the low 32 bits of the
    key's hash (never 0), whose low bits are also the slot the key's run
    starts at. A key is found by walking its run, taking the addresses whose
    fingerprint matches and whose record holds the key. 16-32 bytes a lease,
    where a dict of key objects cost ~100 (the dict's slots and a C{bytes}
    key each); a removal closes its gap by moving later entries back, so no
    tombstones build up; a client's several leases are found in the order
    they came. The slot holds the address, not the record, so a renewal
    leaves the table alone.

A L{Lease} is made from its record when asked for (L{unpack}, ~1.5 us). The
ones most recently written or read are kept as objects (two generations of
at most L{RECENT} each), so the several reads of one exchange (DISCOVER,
OFFER, REQUEST, ACK) and the observers' C{old} cost a dict lookup.
"""

from __future__ import annotations

import struct
from array import array
from ipaddress import IPv4Address
from typing import Callable, Iterable, Iterator

import attrs
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState, storable_text

LeaseObserver = Callable[[Lease | None, Lease | None], None]

BLOCK_BITS = 5
BLOCK = 1 << BLOCK_BITS
_LOW = BLOCK - 1
# Leases kept as objects per generation: enough for the exchanges in flight
# at tens of thousands a second, small beside the records.
RECENT = 512

# address, expires, updated, state, len(mac), len(client_key); then the
# client key, the MAC and the hostname (UTF-8: a Lease holds storable text).
# The key's length just before the key: a key is matched by one startswith.
_HEAD = struct.Struct("<IddBHH")
_HEAD_SIZE = _HEAD.size
_ADDRESS = struct.Struct("<I")
_KEY_LENGTH = struct.Struct("<H")
_KEY_LENGTH_AT = _HEAD_SIZE - 2
# The client index: slots of (fingerprint << 32 | address), 0 when empty.
# 8 KiB: a small store never grows it.
_FIRST_SLOTS = 1024
_ADDRESS_MASK = 0xFFFFFFFF
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
        _HEAD.pack(address, expires, updated, STATES.index(state), len(mac), len(client_key)),
        client_key, mac, hostname.encode(),
    ))


def unpack(record: bytes, address: IPv4Address | None = None) -> Lease:
    """
    The lease of C{record} (at C{address}, when the caller has it as an
    object already).
    """
    value, expires, updated, state, mac_length, key_length = _HEAD.unpack_from(record)
    mac_start = _HEAD_SIZE + key_length
    hostname_start = mac_start + mac_length
    # Made field by field, not through Lease.__init__: a record holds what
    # Lease's converter made of the hostname already (or text a database
    # gave back), and a read not served by the leases kept as objects costs
    # ~30 % less.
    lease = _new_lease(Lease)
    _set_address(lease, IPv4Address(value) if address is None else address)
    _set_state(lease, STATES[state])
    _set_client_key(lease, record[_HEAD_SIZE:mac_start])
    _set_mac(lease, record[mac_start:hostname_start])
    _set_expires(lease, expires)
    _set_hostname(lease, record[hostname_start:].decode())
    _set_updated(lease, updated)
    return lease


_new_lease = Lease.__new__
# Lease's slots, set as Lease.__init__ sets them (its frozen __setattr__ is
# for callers).
_set_address, _set_state, _set_client_key, _set_mac, _set_expires, _set_hostname, _set_updated = (
    Lease.__dict__[field.name].__set__ for field in attrs.fields(Lease)
)


def _client_key(record: bytes) -> bytes:
    return record[_HEAD_SIZE:_HEAD_SIZE + _KEY_LENGTH.unpack_from(record, _KEY_LENGTH_AT)[0]]


def _address(record: bytes) -> int:
    return _ADDRESS.unpack_from(record)[0]


_hash = hash


def _fingerprint(client_key: bytes) -> int:
    # Never 0, the empty slot; its low bits are the key's first slot.
    return (_hash(client_key) & _ADDRESS_MASK) or 1


@implementer(ILeaseStore)
class MemoryLeaseStore:
    def __init__(self) -> None:
        self._blocks: dict[int, list[bytes | None]] = {}
        self._count = 0
        # The client index (see the module's docstring): 2**n slots, at most
        # half of them filled.
        self._slots = array("Q", bytes(8 * _FIRST_SLOTS))
        self._mask = _FIRST_SLOTS - 1
        self._linked = 0
        # The last key found absent and the empty slot its search ended at,
        # until the table next changes: a new client's DISCOVER asks for it
        # twice (the allocation, the per-MAC limit), then writes its offer.
        self._absent: tuple[bytes, int] | None = None
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
        lease = self._older.pop(value, None) or unpack(record, address if type(address) is IPv4Address else None)
        self._remember(value, lease)
        return lease

    def __contains__(self, address: IPv4Address) -> bool:
        value = int(address)
        block = self._blocks.get(value >> BLOCK_BITS)
        return block is not None and block[value & _LOW] is not None

    def find_by_client(self, client_key: bytes) -> list[Lease]:
        found: list[Lease] = []
        absent = self._absent
        if absent is not None and absent[0] == client_key:
            return found
        # _fingerprint, written out: this is on every DISCOVER's path.
        fingerprint = _hash(client_key) & _ADDRESS_MASK or 1
        slots, mask = self._slots, self._mask
        index = fingerprint & mask
        value = slots[index]
        prefix = None
        while value:
            if value >> 32 == fingerprint:
                address = value & _ADDRESS_MASK
                record = self._blocks[address >> BLOCK_BITS][address & _LOW]
                if prefix is None:
                    prefix = _KEY_LENGTH.pack(len(client_key)) + client_key
                if record.startswith(prefix, _KEY_LENGTH_AT):
                    found.append(self._lease_at(address, record))
            index = (index + 1) & mask
            value = slots[index]
        if not found and client_key:
            self._absent = (client_key, index)
        return found

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
            address, _, _, state, mac_length, key_length = unpack_head(record)
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
        return self._lease_at(_address(record), record)

    def _lease_at(self, value: int, record: bytes) -> Lease:
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
        old = None
        if old_record is None:
            self._count += 1
            key = lease.client_key if lease is not None else _client_key(record)
            if key:
                self._link(key, value)
        else:
            if self._observers:
                old = self._lease_of(old_record)
            # The index holds the address, not the record: only a change of
            # client changes it (not a renewal, nor an offer taken).
            end = _HEAD_SIZE + len(lease.client_key if lease is not None else _client_key(record))
            if old_record[_KEY_LENGTH_AT:end] != record[_KEY_LENGTH_AT:end]:
                old_key = _client_key(old_record)
                if old_key:
                    self._unlink(old_key, value)
                key = _client_key(record)
                if key:
                    self._link(key, value)
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
        key = _client_key(record)
        if key:
            self._unlink(key, value)
        self._recent.pop(value, None)
        self._older.pop(value, None)
        for observer in self._observers:
            observer(old, None)

    def _link(self, client_key: bytes, value: int) -> None:
        # Written out (a new client's offer is on every DISCOVER's path).
        if 2 * self._linked >= len(self._slots):
            self._grow(self._linked + 1)
        self._linked += 1
        entry = (_hash(client_key) & _ADDRESS_MASK or 1) << 32 | value
        slots, absent = self._slots, self._absent
        self._absent = None
        if absent is not None and absent[0] == client_key:
            slots[absent[1]] = entry  # where the search for it ended
            return
        mask = self._mask
        index = (entry >> 32) & mask
        while slots[index]:
            index = (index + 1) & mask
        slots[index] = entry

    def _place(self, entries: Iterable[int]) -> None:
        # Each after the entries of its run: a client's leases are found in
        # the order they came.
        self._absent = None
        slots, mask = self._slots, self._mask
        for entry in entries:
            if entry:
                index = (entry >> 32) & mask
                while slots[index]:
                    index = (index + 1) & mask
                slots[index] = entry

    def _unlink(self, client_key: bytes, value: int) -> None:
        self._absent = None
        entry = _fingerprint(client_key) << 32 | value
        slots, mask = self._slots, self._mask
        index = (entry >> 32) & mask
        while (found := slots[index]) != entry:
            if not found:
                return
            index = (index + 1) & mask
        # Close the gap: a later entry of the run moves back into it when
        # its first slot is not between the gap and it (no tombstones).
        later = index
        while found := slots[(later := (later + 1) & mask)]:
            first = (found >> 32) & mask
            if (index - first) & mask < (later - first) & mask:
                slots[index] = found
                index = later
        slots[index] = 0
        self._linked -= 1

    def _grow(self, least: int) -> None:
        """
        Room for C{least} entries, at most half the slots filled.
        """
        old = self._slots
        size = len(old)
        while 2 * least >= size:
            size *= 2
        if size == len(old):
            return
        self._slots, self._mask = array("Q", bytes(8 * size)), size - 1
        # From an empty slot on, so a run that wraps past the end is placed
        # again in the order it was probed.
        start = old.index(0)
        self._place(old[start:])
        self._place(old[:start])


def load_rows(store: MemoryLeaseStore, rows: Iterable[tuple]) -> int:
    """
    Take stored rows of C{(address as int, state as its index in L{STATES},
    client_key, mac, expires, hostname, updated)} into C{store} as records, making no L{Lease}
    (at a start with 300,000 leases, every microsecond a row is 0.3 s
    before the first ACK). Return how many.
    """
    count = 0
    head, blocks = _HEAD.pack, store._blocks
    # The client index is sized once for every row read, then filled.
    unlinked = array("Q")
    for address, state, client_key, mac, expires, hostname, updated in rows:
        count += 1
        if "\x00" in hostname or not hostname.isascii():
            # As a Lease would hold it (a NUL kept by an older version).
            hostname = storable_text(hostname)
        record = b"".join((
            head(address, expires, updated, state, len(mac), len(client_key)),
            client_key, mac, hostname.encode(),
        ))
        block = blocks.get(address >> BLOCK_BITS)
        if block is None:
            block = blocks[address >> BLOCK_BITS] = [None] * BLOCK
        if block[address & _LOW] is not None or store._observers:
            # Not the plain case of a new address: the general way.
            _link_all(store, unlinked)
            store._store(address, record, None)
            continue
        block[address & _LOW] = record
        store._count += 1
        if client_key:
            unlinked.append(_fingerprint(client_key) << 32 | address)
    _link_all(store, unlinked)
    return count


def _link_all(store: MemoryLeaseStore, entries: array) -> None:
    store._grow(store._linked + len(entries))
    store._linked += len(entries)
    store._place(entries)
    del entries[:]
