# -*- test-case-name: tests.unit.test_lease_stores -*-
"""
The in-memory lease store: the index every store keeps, and on its own the
store for tests and for servers that need no persistence.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Callable, Iterator

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease

LeaseObserver = Callable[[Lease | None, Lease | None], None]


@implementer(ILeaseStore)
class MemoryLeaseStore:
    def __init__(self) -> None:
        self._by_address: dict[IPv4Address, Lease] = {}
        # Nearly every client holds one address: store it as is and only
        # grow a set for the rare client with several (a set costs ~270 bytes,
        # a third of a lease's memory).
        self._by_client: dict[bytes, IPv4Address | set[IPv4Address]] = {}
        self._observers: list[LeaseObserver] = []

    def get(self, address: IPv4Address) -> Lease | None:
        return self._by_address.get(address)

    def find_by_client(self, client_key: bytes) -> list[Lease]:
        found = self._by_client.get(client_key)
        if found is None:
            return []
        if isinstance(found, IPv4Address):
            return [self._by_address[found]]
        return [self._by_address[a] for a in found]

    def put(self, lease: Lease, durable: bool = True) -> None:
        self._index(lease)

    def remove(self, address: IPv4Address) -> None:
        self._unindex(address)

    def add_observer(self, observer: LeaseObserver) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: LeaseObserver) -> None:
        self._observers.remove(observer)

    def leases(self) -> Iterator[Lease]:
        return iter(list(self._by_address.values()))

    def __len__(self) -> int:
        return len(self._by_address)

    def committed(self) -> Deferred:
        return succeed(None)

    def close(self) -> Deferred:
        return succeed(None)

    def _index(self, lease: Lease) -> None:
        old = self._by_address.get(lease.address)
        if old is not None and old.client_key != lease.client_key:
            self._forget_client(old.client_key, old.address)
        self._by_address[lease.address] = lease
        key = lease.client_key
        if key:
            found = self._by_client.get(key)
            if found is None or found == lease.address:
                self._by_client[key] = lease.address
            elif isinstance(found, IPv4Address):
                self._by_client[key] = {found, lease.address}
            else:
                found.add(lease.address)
        for observer in self._observers:
            observer(old, lease)

    def _unindex(self, address: IPv4Address) -> None:
        old = self._by_address.pop(address, None)
        if old is not None:
            self._forget_client(old.client_key, address)
            for observer in self._observers:
                observer(old, None)

    def _forget_client(self, client_key: bytes, address: IPv4Address) -> None:
        found = self._by_client.get(client_key)
        if found is None:
            return
        if isinstance(found, IPv4Address):
            if found == address:
                del self._by_client[client_key]
            return
        found.discard(address)
        if len(found) == 1:
            self._by_client[client_key] = next(iter(found))
